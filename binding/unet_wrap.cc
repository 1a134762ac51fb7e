// JavaScript UNet: loadUNet(engine, configJson, weights, {cudaGraphs?}) -> Promise<UNet>;
// unet.forward({sample, timesteps, context, added?, control?, attention?, recordKV?, refKV?, cancel?, sync?})
//   -> Promise<Tensor> (the arguments: unet_inputs_js.h);
// unet.createKVCache(steps, rows) -> ImagePromptKVCache (kv_cache_wrap.cc);
// unet.cudaGraphs (get/set), unet.graphStats(); unetGraphTotals() (every UNet of the process).
// Forwards go through UNetGraphs (engine/models/unet_graphs.h): CUDA graph replays where the
// backend can record them.
// All engine work runs off the JavaScript thread under the engine's lock.
#include <napi.h>

#include <memory>

#include "../engine/models/unet.h"
#include "../engine/models/unet_graphs.h"
#include "addon_data.h"
#include "async.h"
#include "convert.h"
#include "engine_wrap.h"
#include "kv_cache_wrap.h"
#include "model_common.h"
#include "registry.h"
#include "tensor_wrap.h"
#include "unet_inputs_js.h"

namespace indetail {
namespace binding {

namespace {


Napi::Object graph_stats_to_js(Napi::Env env, const UNetGraphStats& s, bool per_model) {
  Napi::Object o = Napi::Object::New(env);
  if (per_model) {
    o.Set("enabled", Napi::Boolean::New(env, s.enabled));
    o.Set("supported", Napi::Boolean::New(env, s.unsupported.empty()));
    if (!s.unsupported.empty()) o.Set("unsupportedReason", Napi::String::New(env, s.unsupported));
    o.Set("graphs", Napi::Number::New(env, (double)s.graphs));
    o.Set("bytes", Napi::Number::New(env, (double)s.bytes));
    o.Set("operations", Napi::Number::New(env, (double)s.operations));
    if (!s.last_failure.empty()) o.Set("lastFailure", Napi::String::New(env, s.last_failure));
  }
  o.Set("captures", Napi::Number::New(env, (double)s.captures));
  o.Set("replays", Napi::Number::New(env, (double)s.replays));
  o.Set("eager", Napi::Number::New(env, (double)s.eager));
  o.Set("failures", Napi::Number::New(env, (double)s.failures));
  o.Set("evictions", Napi::Number::New(env, (double)s.evictions));
  return o;
}

Napi::Value GraphTotals(const Napi::CallbackInfo& info) {
  return graph_stats_to_js(info.Env(), UNetGraphs::totals(), false);
}

}  // namespace

class UNetWrap : public Napi::ObjectWrap<UNetWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "UNet",
                                      {
                                          InstanceAccessor<&UNetWrap::Disposed>("disposed"),
                                          InstanceAccessor<&UNetWrap::SkipCount>("skipCount"),
                                          InstanceAccessor<&UNetWrap::KVLayers>("kvLayers"),
                                          InstanceAccessor<&UNetWrap::CudaGraphs, &UNetWrap::SetCudaGraphs>("cudaGraphs"),
                                          InstanceMethod<&UNetWrap::GraphStats>("graphStats"),
                                          InstanceMethod<&UNetWrap::Forward>("forward"),
                                          InstanceMethod<&UNetWrap::CreateKVCache>("createKVCache"),
                                          InstanceMethod<&UNetWrap::Dispose>("dispose"),
                                      });
    addon_data(env).constructors["UNet"] = Napi::Persistent(ctor);
    exports.Set("UNet", ctor);
    exports.Set("loadUNet", Napi::Function::New(env, Load));
    exports.Set("unetGraphTotals", Napi::Function::New(env, GraphTotals));
  }

  explicit UNetWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UNetWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) throw_type_error(info.Env(), "use UNet.load(engine, ...) to load a UNet");
  }

 private:
  // loadUNet(engine, configJson, weights, {cudaGraphs = true}?)
  static Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = EngineWrap::State(info[0], "engine");
    std::string config = config_json_from_js(info[1], "config");
    auto weights = weight_source_from_js(info[2], "weights");
    bool graphs_on = true;
    if (info.Length() > 3 && !info[3].IsUndefined()) graphs_on = opt_bool(to_object(info[3], "options"), "cudaGraphs", true);
    return run_async(env, "indetail.unet.load", [st, config, weights, graphs_on]() -> Finish {
      std::shared_ptr<UNetModel> model;
      {
        std::lock_guard<std::mutex> lk(st->mutex);
        model = std::make_shared<UNetModel>(st->backend, config, *weights);
      }
      auto graphs = std::make_shared<UNetGraphs>(model, graphs_on);
      return [st, model, graphs](Napi::Env env) -> Napi::Value {
        Napi::Object obj = addon_data(env).constructors["UNet"].New({Napi::External<void>::New(env, nullptr)});
        UNetWrap* w = Unwrap(obj);
        w->state_ = st;
        w->model_ = model;
        w->graphs_ = graphs;
        return obj;
      };
    }, info[0].As<Napi::Object>());
  }

  void check_live(Napi::Env env) const {
    if (!model_) throw_disposed(env, "UNet is disposed");
  }

  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }
  Napi::Value SkipCount(const Napi::CallbackInfo& info) {
    check_live(info.Env());
    return Napi::Number::New(info.Env(), (double)model_->skip_count());
  }

  Napi::Value KVLayers(const Napi::CallbackInfo& info) {
    check_live(info.Env());
    return Napi::Number::New(info.Env(), (double)model_->kv_layers());
  }

  Napi::Value CudaGraphs(const Napi::CallbackInfo& info) {
    check_live(info.Env());
    return Napi::Boolean::New(info.Env(), graphs_->enabled());
  }

  void SetCudaGraphs(const Napi::CallbackInfo& info, const Napi::Value& v) {
    check_live(info.Env());
    graphs_->set_enabled(to_bool(v, "cudaGraphs"));
  }

  // {enabled, supported, unsupportedReason?, graphs, bytes, operations, captures, replays, eager,
  //  failures, evictions, lastFailure?}
  Napi::Value GraphStats(const Napi::CallbackInfo& info) {
    check_live(info.Env());
    return graph_stats_to_js(info.Env(), graphs_->stats(), true);
  }

  // createKVCache(steps, rows): an empty image-prompt K/V cache for this model.
  Napi::Value CreateKVCache(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_live(env);
    int64_t steps = to_int(info[0], "steps");
    int64_t rows = to_int(info[1], "rows");
    auto cache = guard(env, [&] { return std::make_shared<ImagePromptKVCache>(model_->id(), model_->kv_layers(), steps, rows); });
    return KVCacheWrap::New(env, cache);
  }

  // forward(args): see unet_inputs_js.h.
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_live(env);
    auto call = std::make_shared<UNetForwardCall>(unet_forward_from_js(info[0], *state_, *model_));
    auto state = state_;
    auto graphs = graphs_;
    return run_async(env, "indetail.unet.forward", [state, graphs, call]() -> Finish {
      Tensor out;
      {
        std::lock_guard<std::mutex> lk(state->mutex);
        UNetInputs& in = call->inputs;
        DecoderKV cached, recorded;
        if (call->ref.cache) {
          cached = call->ref.cache->at(call->ref.step);
          in.attention.ref_kv = &cached;
        }
        if (call->record.cache) in.attention.record = &recorded;
        out = graphs->forward(in);
        in.attention.ref_kv = nullptr;
        in.attention.record = nullptr;
        if (call->record.cache) call->record.cache->put(call->record.step, std::move(recorded));
        if (call->sync) state->backend->synchronize();
      }
      return [state, out](Napi::Env env) -> Napi::Value { return TensorWrap::New(env, out, state->backend); };
    }, info.This().As<Napi::Object>());
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();  // a forward still running keeps its own reference
    graphs_.reset();
    state_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<EngineState> state_;
  std::shared_ptr<UNetModel> model_;
  std::shared_ptr<UNetGraphs> graphs_;  // holds the model too
};

INDETAIL_BINDING(unet, UNetWrap::Init);

}  // namespace binding
}  // namespace indetail
