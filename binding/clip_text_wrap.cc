// JavaScript ClipTextModel: the CLIP text encoder on one Engine.
//   loadClipTextModel(engine, configJson, weightSpec) -> Promise<ClipTextModel>
//   model.encode(ids: Int32Array, batch, pooled: boolean, penultimate?: boolean)
//     -> Promise<{ lastHiddenState, penultimateHiddenState?, pooled?, textEmbeds? }>
//     (textEmbeds: the projected pooled output, when the config has a projection_dim)
//   model.dispose(); model.disposed
#include <napi.h>

#include <cstring>
#include <memory>
#include <mutex>

#include "../engine/models/clip_text.h"
#include "addon_data.h"
#include "async.h"
#include "convert.h"
#include "engine_wrap.h"
#include "model_common.h"
#include "registry.h"
#include "tensor_wrap.h"

namespace indetail {
namespace binding {

class ClipTextWrap : public Napi::ObjectWrap<ClipTextWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "ClipTextModel",
                                      {
                                          InstanceAccessor<&ClipTextWrap::Disposed>("disposed"),
                                          InstanceMethod<&ClipTextWrap::Encode>("encode"),
                                          InstanceMethod<&ClipTextWrap::Dispose>("dispose"),
                                      });
    addon_data(env).constructors["ClipTextModel"] = Napi::Persistent(ctor);
    exports.Set("ClipTextModel", ctor);
    exports.Set("loadClipTextModel", Napi::Function::New(env, Load));
  }

  explicit ClipTextWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ClipTextWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw_type_error(info.Env(), "ClipTextModel cannot be constructed directly; use loadClipTextModel()");
  }

 private:
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<EngineState> st, std::shared_ptr<ClipTextModel> m) {
    Napi::Object obj = addon_data(env).constructors["ClipTextModel"].New({Napi::External<void>::New(env, nullptr)});
    ClipTextWrap* w = Unwrap(obj);
    w->state_ = std::move(st);
    w->model_ = std::move(m);
    return obj;
  }

  static Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = EngineWrap::State(info[0], "engine");
    std::string json = config_json_from_js(info[1], "config");
    auto weights = weight_source_from_js(info[2], "weights");
    ClipTextConfig cfg = guard(env, [&] { return ClipTextConfig::from_json(json); });
    return run_async(env, "indetail.clip_text.load", [st, weights, cfg]() -> Finish {
      std::lock_guard<std::mutex> lk(st->mutex);
      auto model = std::make_shared<ClipTextModel>(cfg, *weights, st->backend);
      st->backend->synchronize();
      return [st, model](Napi::Env env) -> Napi::Value { return Wrap(env, st, model); };
    }, info[0].As<Napi::Object>());
  }

  void check_live(Napi::Env env) const {
    if (!model_) throw_disposed(env, "ClipTextModel is disposed");
  }

  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_live(env);
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      expected(env, "an Int32Array", "ids", info[0]);
    Napi::Int32Array a = info[0].As<Napi::Int32Array>();
    int64_t batch = to_int(info[1], "batch");
    ClipTextModel::Want want;
    want.pooled = to_bool(info[2], "pooled");
    if (info.Length() > 3 && !info[3].IsUndefined()) want.penultimate = to_bool(info[3], "penultimate");
    int64_t n = (int64_t)a.ElementLength();
    if (batch <= 0 || n == 0 || n % batch != 0)
      throw_type_error(env, "Expected a positive batch that divides the " + std::to_string(n) + " ids but received " +
                                std::to_string(batch));
    Tensor ids = Tensor::host_uninitialized(indetail::DType::I32, {batch, n / batch});
    std::memcpy(ids.raw(), a.Data(), (size_t)n * 4);
    auto st = state_;
    auto model = model_;
    return run_async(env, "indetail.clip_text.encode", [st, model, ids, want]() -> Finish {
      std::lock_guard<std::mutex> lk(st->mutex);
      ClipTextModel::Output out = model->encode(ids, want);
      st->backend->synchronize();
      auto backend = model->backend();
      return [out, backend](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("lastHiddenState", TensorWrap::New(env, out.last_hidden_state, backend));
        if (out.penultimate_hidden_state.defined())
          o.Set("penultimateHiddenState", TensorWrap::New(env, out.penultimate_hidden_state, backend));
        if (out.pooled.defined()) o.Set("pooled", TensorWrap::New(env, out.pooled, backend));
        if (out.text_embeds.defined()) o.Set("textEmbeds", TensorWrap::New(env, out.text_embeds, backend));
        return o;
      };
    }, info.This().As<Napi::Object>());
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();  // an encode in flight keeps its own reference until it is done
    state_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

  std::shared_ptr<EngineState> state_;
  std::shared_ptr<ClipTextModel> model_;
};

INDETAIL_BINDING(clip_text, ClipTextWrap::Init);

}  // namespace binding
}  // namespace indetail
