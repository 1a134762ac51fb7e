#include "peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <vector>

#include "../core/error.h"
#include "../core/threadpool.h"
#include "cpu_features.h"

namespace indetail {
namespace cpu {

uint64_t add_chain(int64_t iters) {
  uint64_t x = 0;
  for (int64_t i = 0; i < iters; ++i) {
    __asm__ volatile(
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
        "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
        : "+r"(x));
  }
  return x;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct Rate {
  double wall = 0;  // units per second of wall time
  double cpu = 0;   // units per second of this thread's CPU time (immune to time slicing)
};

// Runs fn(iters) with iters grown until one run lasts `seconds`; returns units per second.
template <typename F>
Rate rate(F fn, double seconds, double units_per_iter) {
  int64_t iters = 1 << 12;
  while (true) {
    auto t0 = Clock::now();
    double c0 = thread_cpu_seconds();
    fn(iters);
    double s = seconds_since(t0), c = thread_cpu_seconds() - c0;
    if (s >= seconds) return {(double)iters * units_per_iter / s, (double)iters * units_per_iter / std::max(c, 1e-9)};
    iters = (int64_t)((double)iters * std::min(16.0, std::max(2.0, 1.2 * seconds / std::max(s, 1e-6))));
  }
}

// The throughput of `loop` (flops_per_iter flops an iteration, vector instructions of
// flops_per_instr flops): one thread, then every thread at once; best of `reps` runs each.
PeakLoop measure_loop(double (*loop)(int64_t), double seconds, double hz, double flops_per_instr, int threads) {
  const int reps = 15;
  const double flops_per_iter = loop(1);
  PeakLoop r;
  double best_1 = 0, flops_cpu = 0;
  for (int rep = 0; rep < reps; ++rep) {
    Rate f = rate(loop, seconds, flops_per_iter);
    best_1 = std::max(best_1, f.wall);
    flops_cpu = std::max(flops_cpu, f.cpu);
  }
  r.gflops_1 = best_1 / 1e9;
  r.gflops_per_cpu_second = flops_cpu / 1e9;
  r.per_cycle = flops_cpu / flops_per_instr / hz;

  double best_all = 0, best_all_cpu = 0;
  auto add = [](std::atomic<double>& a, double v) {
    double cur = a.load();
    while (!a.compare_exchange_weak(cur, cur + v)) {
    }
  };
  for (int rep = 0; rep < reps; ++rep) {
    // Each thread runs the loop for about `seconds`; the total is flops / wall time, and per
    // thread flops / its CPU time (lower than one thread alone when threads share units).
    int64_t iters = (int64_t)(best_1 / flops_per_iter * seconds);
    auto t0 = Clock::now();
    std::atomic<double> flops{0}, cpu{0};
    parallel_for(threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        double c0 = thread_cpu_seconds();
        add(flops, loop(iters));
        add(cpu, thread_cpu_seconds() - c0);
      }
    });
    best_all = std::max(best_all, flops.load() / seconds_since(t0));
    best_all_cpu = std::max(best_all_cpu, flops.load() / std::max(cpu.load(), 1e-9));
  }
  r.gflops_all = best_all / 1e9;
  r.gflops_per_cpu_second_all = best_all_cpu / 1e9;
  return r;
}

}  // namespace

PeakFma measure_peak_fma(double seconds) {
  PeakFma r;
  CpuLevel level = cpu_level();
  check_arg(level != CpuLevel::Generic, "cpu peak: needs AVX2+FMA or AVX-512 (this CPU / INDETAIL_CPU_LEVEL gives generic)");
  const bool avx512 = level >= CpuLevel::AVX512;
  r.isa = avx512 ? "avx512" : "avx2";
  r.lanes = avx512 ? 16 : 8;
  r.threads = num_threads();
  // The clock: best of many short runs (on a shared machine some of them get a core to themselves).
  double hz_cpu = 0;
  for (int rep = 0; rep < 15; ++rep) hz_cpu = std::max(hz_cpu, rate([](int64_t n) { add_chain(n); }, seconds, 8.0).cpu);
  r.ghz = hz_cpu / 1e9;
  PeakLoop fma = measure_loop(avx512 ? isa_avx512::fma_loop : isa_avx2::fma_loop, seconds, hz_cpu, 2.0 * r.lanes, r.threads);
  r.fma_per_cycle = fma.per_cycle;
  r.gflops_1 = fma.gflops_1;
  r.gflops_per_cpu_second = fma.gflops_per_cpu_second;
  r.gflops_all = fma.gflops_all;
  r.gflops_per_cpu_second_all = fma.gflops_per_cpu_second_all;
  if (level >= CpuLevel::AVX512BF16) {
    r.has_bf16 = true;
    r.bf16 = measure_loop(isa_avx512bf16::dp_loop, seconds, hz_cpu, 4.0 * 16, r.threads);
  }
  return r;
}

}  // namespace cpu
}  // namespace indetail
