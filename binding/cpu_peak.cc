// cpuPeak(seconds?): the CPU's measured fp32 FMA and bf16 dot-product peaks (engine/cpu/peak.h),
// for the benchmarks.
#include <napi.h>

#include "../engine/cpu/peak.h"
#include "async.h"
#include "convert.h"
#include "registry.h"

namespace indetail {
namespace binding {

namespace {

Napi::Value CpuPeak(const Napi::CallbackInfo& info) {
  double seconds = info.Length() > 0 && !info[0].IsUndefined() ? to_number(info[0], "seconds") : 0.02;
  if (!(seconds > 0 && seconds <= 10)) expected(info.Env(), "a number of seconds in (0, 10]", "seconds", info[0]);
  return run_async(info.Env(), "indetail.cpuPeak", [seconds]() -> Finish {
    cpu::PeakFma r = cpu::measure_peak_fma(seconds);
    return [r](Napi::Env env) -> Napi::Value {
      Napi::Object o = Napi::Object::New(env);
      o.Set("isa", r.isa);
      o.Set("lanes", r.lanes);
      o.Set("threads", r.threads);
      o.Set("ghz", r.ghz);
      o.Set("fmaPerCycle", r.fma_per_cycle);
      o.Set("gflopsOneThread", r.gflops_1);
      o.Set("gflopsPerCpuSecond", r.gflops_per_cpu_second);
      o.Set("gflopsAllThreads", r.gflops_all);
      o.Set("gflopsPerCpuSecondAllThreads", r.gflops_per_cpu_second_all);
      if (r.has_bf16) {  // vdpbf16ps: 64 flops an instruction
        Napi::Object b = Napi::Object::New(env);
        b.Set("dpPerCycle", r.bf16.per_cycle);
        b.Set("gflopsOneThread", r.bf16.gflops_1);
        b.Set("gflopsPerCpuSecond", r.bf16.gflops_per_cpu_second);
        b.Set("gflopsAllThreads", r.bf16.gflops_all);
        b.Set("gflopsPerCpuSecondAllThreads", r.bf16.gflops_per_cpu_second_all);
        o.Set("bf16", b);
      }
      return o;
    };
  });
}

void Init(Napi::Env env, Napi::Object exports) { exports.Set("cpuPeak", Napi::Function::New(env, CpuPeak)); }

}  // namespace

INDETAIL_BINDING(cpu_peak, Init);

}  // namespace binding
}  // namespace indetail
