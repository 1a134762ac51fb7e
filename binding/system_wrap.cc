// Module-level functions: build facts, backends, devices, threads.
#include <napi.h>

#include "../engine/backend.h"
#include "../engine/core/threadpool.h"
#include "../engine/cpu/cpu_features.h"
#include "../engine/cpu/gemm.h"
#include "convert.h"
#include "registry.h"

#ifndef INDETAIL_VERSION
#define INDETAIL_VERSION "0.0.0"
#endif

namespace indetail {
namespace binding {

namespace {

Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto list = available_backends();
  Napi::Array a = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); ++i) a.Set((uint32_t)i, list[i]);
  return a;
}

Napi::Value Devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto list = cuda_devices();
  Napi::Array a = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& d = list[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("backend", "cuda");
    o.Set("index", d.index);
    o.Set("name", d.name);
    o.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    o.Set("totalMemory", Napi::Number::New(env, (double)d.total_memory));
    o.Set("freeMemory", Napi::Number::New(env, (double)d.free_memory));
    o.Set("multiprocessors", d.multiprocessors);
    a.Set((uint32_t)i, o);
  }
  return a;
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", INDETAIL_VERSION);
  o.Set("napiVersion", NAPI_VERSION);
  o.Set("cudaCompiled", cuda_compiled());
#ifdef INDETAIL_CUDA_ARCHITECTURES
  o.Set("cudaArchitectures", INDETAIL_CUDA_ARCHITECTURES);
#endif
#ifdef INDETAIL_CUDART_VERSION
  o.Set("cudaRuntimeVersion", INDETAIL_CUDART_VERSION);
#endif
  o.Set("cudaUnavailableReason", cuda_unavailable_reason());
  o.Set("cpuFeatures", cpu_features_string());
  o.Set("cpuLevelDetected", cpu_level_name(cpu_level_detected()));
  const cpu::GemmBf16Kernels* bf16 = cpu::gemm_bf16_kernels();
  o.Set("cpuBf16Kernels", bf16 ? bf16->isa : "");
  if (!cpu_level_env_problem().empty()) o.Set("cpuLevelProblem", cpu_level_env_problem());
  o.Set("threads", num_threads());
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int64_t n = to_int(info[0], "threads");
  if (n < 1 || n > 1024) expected(info.Env(), "an integer between 1 and 1024", "threads", info[0]);
  set_num_threads((int)n);
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("devices", Napi::Function::New(env, Devices));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
}

}  // namespace

INDETAIL_BINDING(system, Init);

}  // namespace binding
}  // namespace indetail
