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

}  // namespace

PeakFma measure_peak_fma(double seconds) {
  PeakFma r;
  CpuLevel level = cpu_level();
  check_arg(level != CpuLevel::Generic, "cpu peak: needs AVX2+FMA or AVX-512 (this CPU / INDETAIL_CPU_LEVEL gives generic)");
  r.isa = cpu_level_name(level);
  r.lanes = level == CpuLevel::AVX512 ? 16 : 8;
  double (*loop)(int64_t) = level == CpuLevel::AVX512 ? isa_avx512::fma_loop : isa_avx2::fma_loop;
  const double flops_per_iter = loop(1);

  // Best of many short runs (on a shared machine some of them get a core to themselves): clock,
  // then one thread, then all threads.
  const int reps = 15;
  double best_hz = 0, best_1 = 0, hz_cpu = 0, flops_cpu = 0;
  for (int rep = 0; rep < reps; ++rep) {
    Rate h = rate([](int64_t n) { add_chain(n); }, seconds, 8.0);
    Rate f = rate(loop, seconds, flops_per_iter);
    best_hz = std::max(best_hz, h.wall);
    best_1 = std::max(best_1, f.wall);
    hz_cpu = std::max(hz_cpu, h.cpu);
    flops_cpu = std::max(flops_cpu, f.cpu);
  }
  r.ghz = hz_cpu / 1e9;
  r.gflops_1 = best_1 / 1e9;
  r.gflops_per_cpu_second = flops_cpu / 1e9;
  r.fma_per_cycle = flops_cpu / (2.0 * r.lanes) / hz_cpu;

  r.threads = num_threads();
  double best_all = 0, best_all_cpu = 0;
  auto add = [](std::atomic<double>& a, double v) {
    double cur = a.load();
    while (!a.compare_exchange_weak(cur, cur + v)) {
    }
  };
  for (int rep = 0; rep < reps; ++rep) {
    // Each thread runs the loop for about `seconds`; the total is flops / wall time, and per
    // thread flops / its CPU time (lower than one thread alone when threads share FMA units).
    int64_t iters = (int64_t)(best_1 / flops_per_iter * seconds);
    auto t0 = Clock::now();
    std::atomic<double> flops{0}, cpu{0};
    parallel_for(r.threads, 1, [&](int64_t b, int64_t e) {
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

}  // namespace cpu
}  // namespace indetail
