// JavaScript VitModel: a ViT (DINO) on one Engine, for block keys and their self-similarity.
//   loadVitModel(engine, configJson, weightSpec) -> Promise<VitModel>
//   model.keys(pixels: Tensor NHWC, layers: number[]) -> Promise<Tensor[]>   [N, tokens, hidden] each
//   model.selfSimilarity(pixels: Tensor NHWC, layer: number) -> Promise<Tensor [N, tokens, tokens]>
//   model.dispose(); model.disposed
#include <napi.h>

#include <memory>
#include <vector>

#include "../engine/models/vit_model.h"
#include "addon_data.h"
#include "convert.h"
#include "model_async.h"
#include "registry.h"

namespace indetail {
namespace binding {

class VitWrap : public Napi::ObjectWrap<VitWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "VitModel",
                                      {
                                          InstanceAccessor<&VitWrap::Disposed>("disposed"),
                                          InstanceMethod<&VitWrap::Keys>("keys"),
                                          InstanceMethod<&VitWrap::SelfSimilarity>("selfSimilarity"),
                                          InstanceMethod<&VitWrap::Dispose>("dispose"),
                                      });
    addon_data(env).constructors["VitModel"] = Napi::Persistent(ctor);
    exports.Set("VitModel", ctor);
    exports.Set("loadVitModel", Napi::Function::New(env, Load));
  }

  explicit VitWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VitWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) throw_type_error(info.Env(), "VitModel cannot be constructed directly; use loadVitModel()");
  }

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info) {
    return load_model_async<VitModel>(info, "indetail.vit.load", &VitModelConfig::from_json,
                                      [](Napi::Env env, std::shared_ptr<EngineState> st, std::shared_ptr<VitModel> m) {
                                        Napi::Object obj = addon_data(env).constructors["VitModel"].New({Napi::External<void>::New(env, nullptr)});
                                        VitWrap* w = Unwrap(obj);
                                        w->state_ = std::move(st);
                                        w->model_ = std::move(m);
                                        return Napi::Value(obj);
                                      });
  }

  Tensor pixels(const Napi::CallbackInfo& info) const {
    if (!model_) throw_disposed(info.Env(), "VitModel is disposed");
    return engine_tensor(info[0], "pixels", *state_, "the engine this model was loaded on");
  }

  Napi::Value Keys(const Napi::CallbackInfo& info) {
    Tensor x = pixels(info);
    std::vector<int64_t> layers;
    for (int32_t l : to_int_array(info[1], "layers")) layers.push_back(l);
    auto model = model_;
    return tensors_async(info.Env(), "indetail.vit.keys", state_, [model, x, layers] { return model->keys(x, layers); }, true,
                         info.This().As<Napi::Object>());
  }

  Napi::Value SelfSimilarity(const Napi::CallbackInfo& info) {
    Tensor x = pixels(info);
    int64_t layer = to_int(info[1], "layer");
    auto model = model_;
    auto st = state_;
    return tensors_async(info.Env(), "indetail.vit.self_similarity", state_,
                         [model, st, x, layer] { return std::vector<Tensor>{cosine_self_similarity(*st->backend, model->keys(x, {layer})[0])}; },
                         false, info.This().As<Napi::Object>());
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();  // work in flight keeps its own reference until it is done
    state_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

  std::shared_ptr<EngineState> state_;
  std::shared_ptr<VitModel> model_;
};

INDETAIL_BINDING(vit, VitWrap::Init);

}  // namespace binding
}  // namespace indetail
