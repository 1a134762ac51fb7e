// The two things every model binding does off the JavaScript thread: load a model from
// (engine, config JSON, weight spec), and run one of its calls under the engine's lock and hand
// back the resulting tensors. Used by the metric encoders' bindings (clip_vision_wrap.cc, vit_wrap.cc).
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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

}  // namespace binding
}  // namespace indetail
