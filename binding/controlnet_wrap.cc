// JavaScript ControlNet: loadControlNet(engine, configJson, weights) -> Promise<ControlNet>;
// controlnet.forward({sample, timesteps, context, cond, scale, cancel?}) -> Promise<{down: Tensor[], mid: Tensor}>
// (cancel: a CancelToken polled between blocks, cancel_wrap.h).
// All engine work runs off the JavaScript thread under the engine's lock.
#include <napi.h>

#include <memory>

#include "../engine/models/controlnet.h"
#include "addon_data.h"
#include "async.h"
#include "cancel_wrap.h"
#include "convert.h"
#include "engine_wrap.h"
#include "model_common.h"
#include "registry.h"
#include "tensor_wrap.h"

namespace indetail {
namespace binding {

class ControlNetWrap : public Napi::ObjectWrap<ControlNetWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "ControlNet",
                                      {
                                          InstanceAccessor<&ControlNetWrap::Disposed>("disposed"),
                                          InstanceMethod<&ControlNetWrap::Forward>("forward"),
                                          InstanceMethod<&ControlNetWrap::Dispose>("dispose"),
                                      });
    addon_data(env).constructors["ControlNet"] = Napi::Persistent(ctor);
    exports.Set("ControlNet", ctor);
    exports.Set("loadControlNet", Napi::Function::New(env, Load));
  }

  explicit ControlNetWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ControlNetWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw_type_error(info.Env(), "use ControlNet.load(engine, ...) to load a ControlNet");
  }

 private:
  // loadControlNet(engine, configJson, weights)
  static Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = EngineWrap::State(info[0], "engine");
    std::string config = config_json_from_js(info[1], "config");
    auto weights = weight_source_from_js(info[2], "weights");
    return run_async(env, "indetail.controlnet.load", [st, config, weights]() -> Finish {
      std::shared_ptr<ControlNetModel> model;
      {
        std::lock_guard<std::mutex> lk(st->mutex);
        model = std::make_shared<ControlNetModel>(st->backend, config, *weights);
      }
      return [st, model](Napi::Env env) -> Napi::Value {
        Napi::Object obj = addon_data(env).constructors["ControlNet"].New({Napi::External<void>::New(env, nullptr)});
        ControlNetWrap* w = Unwrap(obj);
        w->state_ = st;
        w->model_ = model;
        return obj;
      };
    }, info[0].As<Napi::Object>());
  }

  void check_live(Napi::Env env) const {
    if (!model_) throw_disposed(env, "ControlNet is disposed");
  }

  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

  // forward({sample, timesteps: number[], context, cond, scale, cancel?})
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_live(env);
    Napi::Object a = to_object(info[0], "forward arguments");
    const EngineState& st = *state_;
    Tensor sample = engine_tensor(a.Get("sample"), "sample", st);
    Tensor context = engine_tensor(a.Get("context"), "context", st);
    Tensor cond = engine_tensor(a.Get("cond"), "cond", st);
    std::vector<float> timesteps = to_float_array(a.Get("timesteps"), "timesteps");
    float scale = (float)opt_number(a, "scale", 1.0);
    auto cancel = CancelTokenWrap::Optional(a.Get("cancel"), "cancel");

    auto state = state_;
    auto model = model_;
    return run_async(env, "indetail.controlnet.forward", [state, model, sample, context, cond, timesteps, scale, cancel]() -> Finish {
      ControlNetOutput out;
      {
        std::lock_guard<std::mutex> lk(state->mutex);
        out = model->forward(sample, timesteps, context, cond, scale, cancel.get());
        state->backend->synchronize();
      }
      return [state, out](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        Napi::Array down = Napi::Array::New(env, out.down.size());
        for (size_t i = 0; i < out.down.size(); ++i) down.Set((uint32_t)i, TensorWrap::New(env, out.down[i], state->backend));
        o.Set("down", down);
        o.Set("mid", TensorWrap::New(env, out.mid, state->backend));
        return o;
      };
    }, info.This().As<Napi::Object>());
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();
    state_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<EngineState> state_;
  std::shared_ptr<ControlNetModel> model_;
};

INDETAIL_BINDING(controlnet, ControlNetWrap::Init);

}  // namespace binding
}  // namespace indetail
