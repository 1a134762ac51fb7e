// The two things every model binding does off the JavaScript thread: load a model from
// (engine, config JSON, weight spec), and run one of its calls under the engine's lock and hand
// back the resulting tensors; and the JavaScript object such a load makes (ModelObjectWrap).
// Used by the metric encoders' bindings (clip_vision_wrap.cc, vit_wrap.cc).
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "addon_data.h"
#include "async.h"
#include "engine_wrap.h"
#include "errors.h"
#include "model_common.h"
#include "tensor_wrap.h"

namespace indetail {
namespace binding {

// load(engine, config, weights): parses the config with `parse` (errors thrown synchronously),
// builds Model(config, weights, backend) on a worker, then `wrap` makes the JavaScript object.
template <class Model, class Config>
Napi::Value load_model_async(const Napi::CallbackInfo& info, const char* work, Config (*parse)(const std::string&),
                             std::function<Napi::Value(Napi::Env, std::shared_ptr<EngineState>, std::shared_ptr<Model>)> wrap) {
  Napi::Env env = info.Env();
  auto st = EngineWrap::State(info[0], "engine");
  std::string json = config_json_from_js(info[1], "config");
  auto weights = weight_source_from_js(info[2], "weights");
  Config cfg = guard(env, [&] { return parse(json); });
  return run_async(env, work, [st, weights, cfg, wrap]() -> Finish {
    std::shared_ptr<Model> model;
    {
      std::lock_guard<std::mutex> lk(st->mutex);
      model = std::make_shared<Model>(cfg, *weights, st->backend);
      st->backend->synchronize();
    }
    return [st, model, wrap](Napi::Env env) -> Napi::Value { return wrap(env, st, model); };
  }, info[0].As<Napi::Object>());
}

// Runs `compute` on a worker under the engine's lock and resolves with its tensors: one tensor,
// or an array when `as_array`.
inline Napi::Value tensors_async(Napi::Env env, const char* work, std::shared_ptr<EngineState> st,
                                 std::function<std::vector<Tensor>()> compute, bool as_array, Napi::Object keep_alive) {
  return run_async(env, work, [st, compute, as_array]() -> Finish {
    std::vector<Tensor> out;
    {
      std::lock_guard<std::mutex> lk(st->mutex);
      out = compute();
      st->backend->synchronize();
    }
    return [st, out, as_array](Napi::Env env) -> Napi::Value {
      if (!as_array) return TensorWrap::New(env, out.at(0), st->backend);
      Napi::Array a = Napi::Array::New(env, out.size());
      for (size_t i = 0; i < out.size(); ++i) a.Set((uint32_t)i, TensorWrap::New(env, out[i], st->backend));
      return a;
    };
  }, keep_alive);
}

// The JavaScript object of one loaded model: made only by its load function (kLoadName), with
// dispose() and disposed; the derived class adds its calls. Derived names its JavaScript class
// (kName), its load function and that load's async work (kLoadWork), and parses its config
// (Derived::parse_config).
template <class Derived, class Model>
class ModelObjectWrap : public Napi::ObjectWrap<Derived> {
 public:
  explicit ModelObjectWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw_type_error(info.Env(), std::string(Derived::kName) + " cannot be constructed directly; use " + Derived::kLoadName + "()");
  }

 protected:
  using Property = typename Napi::ObjectWrap<Derived>::PropertyDescriptor;

  // Defines the class with `calls` and dispose/disposed; exports it and its load function.
  static void Export(Napi::Env env, Napi::Object exports, std::vector<Property> calls) {
    using Wrap = Napi::ObjectWrap<Derived>;
    calls.push_back(Wrap::InstanceAccessor("disposed", static_cast<typename Wrap::InstanceGetterCallback>(&ModelObjectWrap::Disposed), nullptr));
    calls.push_back(Wrap::InstanceMethod("dispose", static_cast<typename Wrap::InstanceMethodCallback>(&ModelObjectWrap::Dispose)));
    Napi::Function ctor = Napi::ObjectWrap<Derived>::DefineClass(env, Derived::kName, calls);
    addon_data(env).constructors[Derived::kName] = Napi::Persistent(ctor);
    exports.Set(Derived::kName, ctor);
    exports.Set(Derived::kLoadName, Napi::Function::New(env, Load));
  }

  // The model, or a JavaScript error when it was disposed.
  std::shared_ptr<Model> model(const Napi::CallbackInfo& info) const {
    if (!model_) throw_disposed(info.Env(), std::string(Derived::kName) + " is disposed");
    return model_;
  }

  // A tensor argument, which must live on this model's engine.
  Tensor engine_tensor_arg(const Napi::CallbackInfo& info, size_t index, const char* name) const {
    return engine_tensor(info[index], name, *state_, "the engine this model was loaded on");
  }

  std::shared_ptr<EngineState> state_;

 private:
  static Napi::Value Load(const Napi::CallbackInfo& info) {
    return load_model_async<Model>(info, Derived::kLoadWork, &Derived::parse_config,
                                   [](Napi::Env env, std::shared_ptr<EngineState> st, std::shared_ptr<Model> m) {
                                     Napi::Object obj = addon_data(env).constructors[Derived::kName].New({Napi::External<void>::New(env, nullptr)});
                                     Derived* w = Derived::Unwrap(obj);
                                     w->state_ = std::move(st);
                                     w->model_ = std::move(m);
                                     return Napi::Value(obj);
                                   });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();  // work in flight keeps its own reference until it is done
    state_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

  std::shared_ptr<Model> model_;
};

}  // namespace binding
}  // namespace indetail
