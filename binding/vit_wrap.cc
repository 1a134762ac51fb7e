// JavaScript VitModel: a ViT (DINO) on one Engine, for block keys and their self-similarity.
//   loadVitModel(engine, configJson, weightSpec) -> Promise<VitModel>
//   model.keys(pixels: Tensor NHWC, layers: number[]) -> Promise<Tensor[]>   [N, tokens, hidden] each
//   model.selfSimilarity(pixels: Tensor NHWC, layer: number) -> Promise<Tensor [N, tokens, tokens]>
//   model.dispose(); model.disposed
#include <napi.h>

#include <memory>
#include <mutex>
#include <vector>

#include "../engine/models/vit_model.h"
#include "addon_data.h"
#include "async.h"
#include "convert.h"
#include "engine_wrap.h"
#include "model_common.h"
#include "registry.h"
#include "tensor_wrap.h"

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
    if (info.Length() != 1 || !info[0].IsExternal())
      throw_type_error(info.Env(), "VitModel cannot be constructed directly; use loadVitModel()");
  }

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = EngineWrap::State(info[0], "engine");
    std::string json = config_json_from_js(info[1], "config");
    auto weights = weight_source_from_js(info[2], "weights");
    VitModelConfig cfg = guard(env, [&] { return VitModelConfig::from_json(json); });
    return run_async(env, "indetail.vit.load", [st, weights, cfg]() -> Finish {
      std::lock_guard<std::mutex> lk(st->mutex);
      auto model = std::make_shared<VitModel>(cfg, *weights, st->backend);
      st->backend->synchronize();
      return [st, model](Napi::Env env) -> Napi::Value {
        Napi::Object obj = addon_data(env).constructors["VitModel"].New({Napi::External<void>::New(env, nullptr)});
        VitWrap* w = Unwrap(obj);
        w->state_ = st;
        w->model_ = model;
        return obj;
      };
    }, info[0].As<Napi::Object>());
  }

  void live(Napi::Env env) const {
    if (!model_) throw_disposed(env, "VitModel is disposed");
  }

  Napi::Value Keys(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Tensor pixels = engine_tensor(info[0], "pixels", *state_, "the engine this model was loaded on");
    std::vector<int64_t> layers;
    for (int32_t l : to_int_array(info[1], "layers")) layers.push_back(l);
    auto st = state_;
    auto model = model_;
    return run_async(env, "indetail.vit.keys", [st, model, pixels, layers]() -> Finish {
      std::vector<Tensor> keys;
      {
        std::lock_guard<std::mutex> lk(st->mutex);
        keys = model->keys(pixels, layers);
        st->backend->synchronize();
      }
      return [st, keys](Napi::Env env) -> Napi::Value {
        Napi::Array a = Napi::Array::New(env, keys.size());
        for (size_t i = 0; i < keys.size(); ++i) a.Set((uint32_t)i, TensorWrap::New(env, keys[i], st->backend));
        return a;
      };
    }, info.This().As<Napi::Object>());
  }

  Napi::Value SelfSimilarity(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Tensor pixels = engine_tensor(info[0], "pixels", *state_, "the engine this model was loaded on");
    int64_t layer = to_int(info[1], "layer");
    auto st = state_;
    auto model = model_;
    return run_async(env, "indetail.vit.self_similarity", [st, model, pixels, layer]() -> Finish {
      Tensor sim;
      {
        std::lock_guard<std::mutex> lk(st->mutex);
        sim = cosine_self_similarity(*st->backend, model->keys(pixels, {layer})[0]);
        st->backend->synchronize();
      }
      return [st, sim](Napi::Env env) -> Napi::Value { return TensorWrap::New(env, sim, st->backend); };
    }, info.This().As<Napi::Object>());
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
