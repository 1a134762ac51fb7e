// JavaScript ClipVisionModel: CLIP's vision tower with its projection on one Engine.
//   loadClipVisionModel(engine, configJson, weightSpec) -> Promise<ClipVisionModel>
//   model.imageEmbeds(pixels: Tensor NHWC) -> Promise<Tensor [N, projection_dim]>
//   model.dispose(); model.disposed
#include <napi.h>

#include <memory>
#include <mutex>

#include "../engine/models/clip_vision.h"
#include "addon_data.h"
#include "async.h"
#include "convert.h"
#include "engine_wrap.h"
#include "model_common.h"
#include "registry.h"
#include "tensor_wrap.h"

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
    Napi::Env env = info.Env();
    auto st = EngineWrap::State(info[0], "engine");
    std::string json = config_json_from_js(info[1], "config");
    auto weights = weight_source_from_js(info[2], "weights");
    ClipVisionConfig cfg = guard(env, [&] { return ClipVisionConfig::from_json(json); });
    return run_async(env, "indetail.clip_vision.load", [st, weights, cfg]() -> Finish {
      std::lock_guard<std::mutex> lk(st->mutex);
      auto model = std::make_shared<ClipVisionModel>(cfg, *weights, st->backend);
      st->backend->synchronize();
      return [st, model](Napi::Env env) -> Napi::Value {
        Napi::Object obj = addon_data(env).constructors["ClipVisionModel"].New({Napi::External<void>::New(env, nullptr)});
        ClipVisionWrap* w = Unwrap(obj);
        w->state_ = st;
        w->model_ = model;
        return obj;
      };
    }, info[0].As<Napi::Object>());
  }

  Napi::Value ImageEmbeds(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!model_) throw_disposed(env, "ClipVisionModel is disposed");
    Tensor pixels = engine_tensor(info[0], "pixels", *state_, "the engine this model was loaded on");
    auto st = state_;
    auto model = model_;
    return run_async(env, "indetail.clip_vision.image_embeds", [st, model, pixels]() -> Finish {
      Tensor out;
      {
        std::lock_guard<std::mutex> lk(st->mutex);
        out = model->image_embeds(pixels);
        st->backend->synchronize();
      }
      return [st, out](Napi::Env env) -> Napi::Value { return TensorWrap::New(env, out, st->backend); };
    }, info.This().As<Napi::Object>());
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
