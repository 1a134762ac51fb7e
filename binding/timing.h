// Host-clock timing shared by the benchmark entry points (engine.timeOp, binding/attention_bench.cc).
#pragma once
#include <napi.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "../engine/backend.h"

namespace indetail {
namespace binding {

// Appends the seconds of `iterations` calls of fn, each timed on the host up to a synchronize.
template <typename Fn>
void time_host_calls(Backend& b, int iterations, Fn&& fn, std::vector<double>& samples) {
  for (int i = 0; i < iterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    b.synchronize();
    samples.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
}

// {seconds: the median sample, min, samples}
inline Napi::Object timing_object(Napi::Env env, const std::vector<double>& samples) {
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  Napi::Object o = Napi::Object::New(env);
  o.Set("seconds", Napi::Number::New(env, sorted[sorted.size() / 2]));
  o.Set("min", Napi::Number::New(env, sorted.front()));
  Napi::Array a = Napi::Array::New(env, samples.size());
  for (size_t i = 0; i < samples.size(); ++i) a.Set((uint32_t)i, Napi::Number::New(env, samples[i]));
  o.Set("samples", a);
  return o;
}

}  // namespace binding
}  // namespace indetail
