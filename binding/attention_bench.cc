// Benchmark-only attention entry points (bench/suites/attention.mjs); not part of the op interface.
//   naiveAttention(engine, args, {warmup, iterations})
//       -> Promise<{seconds, min, samples, extraBytes}>   the materialised reference way
//   timeAttention(engine, args, {kernel = 'auto', warmup, iterations})
//       -> Promise<{seconds, min, samples, kernel, extraBytes}>   the fused op ('auto' on any
//          backend; 'flash', 'flash:<n>', 'simple', 'sm90' on CUDA); extraBytes: device scratch on CUDA,
//          null on the CPU (measure the engine's allocator instead)
// `args` are the attention op's arguments (q, k, v, out, kRef, vRef, heads, scale, causal, mode,
// lambdaRef, lambdaSelf, ref, qCol, kCol, vCol). Each call of the timed function is followed by a
// synchronize; the median is reported.
#include <napi.h>

#include <cmath>
#include <string>

#include "../engine/cpu/attention_naive.h"
#include "async.h"
#include "convert.h"
#include "engine_wrap.h"
#include "registry.h"
#include "tensor_wrap.h"
#include "timing.h"
#ifdef INDETAIL_WITH_CUDA
#include "../cuda/kernels/attention_bench.h"
#endif

namespace indetail {
namespace binding {

namespace {

struct AttentionCall {
  Tensor q, k, v, out, k_ref, v_ref;
  bool has_ref_cache = false;
  AttentionParams p;
  const Tensor* kr() const { return has_ref_cache ? &k_ref : nullptr; }
  const Tensor* vr() const { return has_ref_cache ? &v_ref : nullptr; }
};

bool present(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

AttentionCall parse(const Napi::Object& o) {
  AttentionCall c;
  c.q = TensorWrap::FromJs(o.Get("q"), "q");
  c.k = TensorWrap::FromJs(o.Get("k"), "k");
  c.v = TensorWrap::FromJs(o.Get("v"), "v");
  c.out = TensorWrap::FromJs(o.Get("out"), "out");
  if (present(o, "kRef") || present(o, "vRef")) {
    c.k_ref = TensorWrap::FromJs(o.Get("kRef"), "kRef");
    c.v_ref = TensorWrap::FromJs(o.Get("vRef"), "vRef");
    c.has_ref_cache = true;
  }
  AttentionParams& p = c.p;
  p.heads = (int)to_int(o.Get("heads"), "heads");
  p.scale = (float)opt_number(o, "scale", 0.0);
  p.causal = opt_bool(o, "causal", false);
  const std::string mode = opt_string(o, "mode", "none");
  if (mode == "none") p.mode = RefMode::None;
  else if (mode == "concat") p.mode = RefMode::Concat;
  else if (mode == "stratified") p.mode = RefMode::Stratified;
  else if (mode == "replace") p.mode = RefMode::Replace;
  else expected(o.Env(), "one of 'none', 'concat', 'stratified', 'replace'", "mode", o.Get("mode"));
  p.lambda_ref = (float)opt_number(o, "lambdaRef", 1.0);
  p.lambda_self = (float)opt_number(o, "lambdaSelf", 1.0);
  if (present(o, "ref")) p.ref = to_int_array(o.Get("ref"), "ref");
  p.q_col = opt_int(o, "qCol", 0);
  p.k_col = opt_int(o, "kCol", 0);
  p.v_col = opt_int(o, "vCol", 0);
  if (p.scale == 0.0f) {  // as the op table: 1 / sqrt(head_dim)
    if (p.heads <= 0 || c.out.dim() < 1 || c.out.size(-1) % p.heads != 0)
      expected(o.Env(), "a positive divisor of the output width", "heads", o.Get("heads"));
    p.scale = 1.0f / std::sqrt((float)(c.out.size(-1) / p.heads));
  }
  return c;
}

struct Timing {
  int warmup = 2, iterations = 10;
};

Timing parse_timing(const Napi::CallbackInfo& info, size_t index) {
  Timing t;
  if (info.Length() > index && !info[index].IsUndefined()) {
    Napi::Object o = to_object(info[index], "options");
    t.warmup = (int)opt_int(o, "warmup", 2);
    t.iterations = (int)opt_int(o, "iterations", 10);
    if (t.warmup < 0) expected(info.Env(), "a non-negative integer", "warmup", o.Get("warmup"));
    if (t.iterations < 1) expected(info.Env(), "a positive integer", "iterations", o.Get("iterations"));
  }
  return t;
}

// Runs fn warmup + iterations times (synchronising after each) and returns the samples.
template <typename Fn>
std::vector<double> time_calls(Backend& b, const Timing& t, Fn&& fn) {
  for (int i = 0; i < t.warmup; ++i) fn();
  b.synchronize();
  std::vector<double> samples;
  time_host_calls(b, t.iterations, fn, samples);
  return samples;
}

uint64_t run_naive(Backend& b, AttentionCall& c) {
  if (b.device() == Device::CPU) return naive_attention_cpu(c.q, c.k, c.v, c.kr(), c.vr(), c.out, c.p);
#ifdef INDETAIL_WITH_CUDA
  return cuda::naive_attention(b, c.q, c.k, c.v, c.kr(), c.vr(), c.out, c.p);
#else
  fail(ErrorKind::Unsupported, "naive attention: this build has no CUDA backend");
#endif
}

Napi::Value NaiveAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = EngineWrap::State(info[0], "engine");
  auto call = std::make_shared<AttentionCall>(parse(to_object(info[1], "attention arguments")));
  Timing t = parse_timing(info, 2);
  return run_async(env, "indetail.bench.naiveAttention", [st, call, t]() -> Finish {
    std::lock_guard<std::mutex> lk(st->mutex);
    Backend& b = *st->backend;
    uint64_t extra = 0;
    std::vector<double> samples = time_calls(b, t, [&] { extra = run_naive(b, *call); });
    return [samples, extra](Napi::Env env) -> Napi::Value {
      Napi::Object o = timing_object(env, samples);
      o.Set("extraBytes", Napi::Number::New(env, (double)extra));
      return o;
    };
  });
}

Napi::Value TimeAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = EngineWrap::State(info[0], "engine");
  auto call = std::make_shared<AttentionCall>(parse(to_object(info[1], "attention arguments")));
  Timing t = parse_timing(info, 2);
  std::string kernel = "auto";
  if (info.Length() > 2 && !info[2].IsUndefined()) kernel = opt_string(to_object(info[2], "options"), "kernel", "auto");
  return run_async(env, "indetail.bench.timeAttention", [st, call, t, kernel]() -> Finish {
    std::lock_guard<std::mutex> lk(st->mutex);
    Backend& b = *st->backend;
    std::string ran = b.device() == Device::CPU ? "cpu op" : kernel;
    double extra = b.device() == Device::CPU ? -1.0 : 0.0;
    auto once = [&] {
      AttentionCall& c = *call;
      if (kernel == "auto" && b.device() == Device::CPU) {
        b.attention(c.q, c.k, c.v, c.kr(), c.vr(), c.out, c.p);
        return;
      }
#ifdef INDETAIL_WITH_CUDA
      cuda::AttentionKernelRun r = cuda::attention_with_kernel(b, c.q, c.k, c.v, c.kr(), c.vr(), c.out, c.p, kernel);
      ran = r.kernel;
      extra = (double)r.extra_bytes;
#else
      fail(ErrorKind::Unsupported, "attention kernel '", kernel, "': this build has no CUDA backend");
#endif
    };
    std::vector<double> samples = time_calls(b, t, once);
    return [samples, ran, extra](Napi::Env env) -> Napi::Value {
      Napi::Object o = timing_object(env, samples);
      o.Set("kernel", Napi::String::New(env, ran));
      o.Set("extraBytes", extra < 0 ? env.Null() : Napi::Number::New(env, extra));
      return o;
    };
  });
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("naiveAttention", Napi::Function::New(env, NaiveAttention, "naiveAttention"));
  exports.Set("timeAttention", Napi::Function::New(env, TimeAttention, "timeAttention"));
}

}  // namespace

INDETAIL_BINDING(attention_bench, Init);

}  // namespace binding
}  // namespace indetail
