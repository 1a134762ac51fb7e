// JavaScript UNet: loadUNet(engine, configJson, weights, {cudaGraphs?}) -> Promise<UNet>;
// unet.forward({sample, timesteps, context, control?, attention?, recordKV?, refKV?}) -> Promise<Tensor>;
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
#include "cancel_wrap.h"
#include "convert.h"
#include "engine_wrap.h"
#include "kv_cache_wrap.h"
#include "model_common.h"
#include "registry.h"
#include "tensor_wrap.h"

namespace indetail {
namespace binding {

namespace {


RefAttention attention_from_js(const Napi::Value& v, const std::string& name) {
  Napi::Object o = to_object(v, name);
  RefAttention a;
  std::string mode = opt_string(o, "mode", "none");
  if (mode == "none") a.mode = RefMode::None;
  else if (mode == "concat") a.mode = RefMode::Concat;
  else if (mode == "stratified") a.mode = RefMode::Stratified;
  else if (mode == "replace") a.mode = RefMode::Replace;
  else expected(v.Env(), "one of 'none', 'concat', 'stratified', 'replace'", name + ".mode", o.Get("mode"));
  if (!o.Get("ref").IsUndefined()) a.ref = to_int_array(o.Get("ref"), name + ".ref");
  a.lambda_ref = (float)opt_number(o, "lambdaRef", 1.0);
  a.lambda_self = (float)opt_number(o, "lambdaSelf", 1.0);
  return a;
}

// {cache, step} of recordKV / refKV, checked against the model.
struct KVTarget {
  std::shared_ptr<ImagePromptKVCache> cache;
  int64_t step = -1;
};

KVTarget kv_target_from_js(const Napi::Value& v, const std::string& name, const UNetModel& model) {
  Napi::Object o = to_object(v, name);
  KVTarget t;
  t.cache = KVCacheWrap::FromJs(o.Get("cache"), name + ".cache");
  if (t.cache->model_id() != model.id()) throw_type_error(v.Env(), name + ".cache was created by another UNet");
  t.step = to_int(o.Get("step"), name + ".step");
  if (t.step < 0 || t.step >= t.cache->steps())
    throw_type_error(v.Env(), name + ".step must be in [0, " + std::to_string(t.cache->steps()) + "), got " +
                                  std::to_string(t.step));
  return t;
}

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

  // forward({sample, timesteps: number[], context, control?: {down: Tensor[], mid, frameScale?: number[]},
  //          attention?: {mode, ref, lambdaRef, lambdaSelf},
  //          recordKV?: {cache, step, rows: number[]},  // store these rows' decoder attn1 K/V at step
  //          refKV?: {cache, step},                     // reference K/V from the cache; ref indexes its rows
//          cancel?: CancelToken})                     // polled between blocks (cancel_wrap.h)
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    check_live(env);
    Napi::Object a = to_object(info[0], "forward arguments");
    const EngineState& st = *state_;
    Tensor sample = engine_tensor(a.Get("sample"), "sample", st);
    Tensor context = engine_tensor(a.Get("context"), "context", st);
    std::vector<float> timesteps = to_float_array(a.Get("timesteps"), "timesteps");
    auto control = std::make_shared<UNetControl>();
    bool has_control = !a.Get("control").IsUndefined() && !a.Get("control").IsNull();
    if (has_control) {
      Napi::Object c = to_object(a.Get("control"), "control");
      Napi::Value down = c.Get("down");
      if (!down.IsArray()) expected(env, "an array of Tensors", "control.down", down);
      Napi::Array d = down.As<Napi::Array>();
      for (uint32_t i = 0; i < d.Length(); ++i)
        control->down.push_back(engine_tensor(d.Get(i), "control.down[" + std::to_string(i) + "]", st));
      control->mid = engine_tensor(c.Get("mid"), "control.mid", st);
      if (!c.Get("frameScale").IsUndefined()) control->frame_scale = to_float_array(c.Get("frameScale"), "control.frameScale");
    }
    auto policy = std::make_shared<RefAttention>();
    if (!a.Get("attention").IsUndefined() && !a.Get("attention").IsNull()) *policy = attention_from_js(a.Get("attention"), "attention");
    KVTarget record, ref;
    if (!a.Get("recordKV").IsUndefined()) {
      record = kv_target_from_js(a.Get("recordKV"), "recordKV", *model_);
      policy->record_rows = to_int_array(a.Get("recordKV").As<Napi::Object>().Get("rows"), "recordKV.rows");
      if ((int64_t)policy->record_rows.size() != record.cache->rows())
        throw_type_error(env, "recordKV.rows must name " + std::to_string(record.cache->rows()) +
                                  " rows (the cache's row count), got " + std::to_string(policy->record_rows.size()));
    }
    if (!a.Get("refKV").IsUndefined()) ref = kv_target_from_js(a.Get("refKV"), "refKV", *model_);
    // sync false: resolve once the step is queued on the stream (see EngineWrap::Op).
    const bool sync = opt_bool(a, "sync", true);
    if (record.cache && record.cache == ref.cache) throw_type_error(env, "recordKV and refKV must be different caches");
    auto cancel = CancelTokenWrap::Optional(a.Get("cancel"), "cancel");

    auto state = state_;
    auto graphs = graphs_;
    return run_async(env, "indetail.unet.forward", [state, graphs, sample, context, timesteps, control, has_control, policy, record, ref, sync, cancel]() -> Finish {
      Tensor out;
      {
        std::lock_guard<std::mutex> lk(state->mutex);
        DecoderKV cached, recorded;
        if (ref.cache) {
          cached = ref.cache->at(ref.step);
          policy->ref_kv = &cached;
        }
        if (record.cache) policy->record = &recorded;
        out = graphs->forward(sample, timesteps, context, has_control ? control.get() : nullptr, policy.get(), cancel.get());
        policy->ref_kv = nullptr;
        policy->record = nullptr;
        if (record.cache) record.cache->put(record.step, std::move(recorded));
        if (sync) state->backend->synchronize();
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
