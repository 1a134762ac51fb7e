// JavaScript ClipVisionModel: CLIP's vision tower with its projection on one Engine.
//   loadClipVisionModel(engine, configJson, weightSpec) -> Promise<ClipVisionModel>
//   model.imageEmbeds(pixels: Tensor NHWC) -> Promise<Tensor [N, projection_dim]>
//   model.dispose(); model.disposed
#include <napi.h>

#include <memory>

#include "../engine/models/clip_vision.h"
#include "addon_data.h"
#include "model_async.h"
#include "registry.h"

namespace indetail {
namespace binding {

class ClipVisionWrap : public Napi::ObjectWrap<ClipVisionWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "ClipVisionModel",
                                      {
                                          InstanceAccessor<&ClipVisionWrap::Disposed>("disposed"),
                                          InstanceMethod<&ClipVisionWrap::ImageEmbeds>("imageEmbeds"),
                                          InstanceMethod<&ClipVisionWrap::Dispose>("dispose"),
                                      });
    addon_data(env).constructors["ClipVisionModel"] = Napi::Persistent(ctor);
    exports.Set("ClipVisionModel", ctor);
    exports.Set("loadClipVisionModel", Napi::Function::New(env, Load));
  }

  explicit ClipVisionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ClipVisionWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw_type_error(info.Env(), "ClipVisionModel cannot be constructed directly; use loadClipVisionModel()");
  }

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info) {
    return load_model_async<ClipVisionModel>(info, "indetail.clip_vision.load", &ClipVisionConfig::from_json,
                                             [](Napi::Env env, std::shared_ptr<EngineState> st, std::shared_ptr<ClipVisionModel> m) {
                                               Napi::Object obj = addon_data(env).constructors["ClipVisionModel"].New({Napi::External<void>::New(env, nullptr)});
                                               ClipVisionWrap* w = Unwrap(obj);
                                               w->state_ = std::move(st);
                                               w->model_ = std::move(m);
                                               return Napi::Value(obj);
                                             });
  }

  Napi::Value ImageEmbeds(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!model_) throw_disposed(env, "ClipVisionModel is disposed");
    Tensor pixels = engine_tensor(info[0], "pixels", *state_, "the engine this model was loaded on");
    auto model = model_;
    return tensors_async(env, "indetail.clip_vision.image_embeds", state_, [model, pixels] { return std::vector<Tensor>{model->image_embeds(pixels)}; },
                         false, info.This().As<Napi::Object>());
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();  // work in flight keeps its own reference until it is done
    state_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

  std::shared_ptr<EngineState> state_;
  std::shared_ptr<ClipVisionModel> model_;
};

INDETAIL_BINDING(clip_vision, ClipVisionWrap::Init);

}  // namespace binding
}  // namespace indetail
