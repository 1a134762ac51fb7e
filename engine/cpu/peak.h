// The machine's arithmetic peaks, measured: a loop of independent fp32 FMAs (and, where the CPU
// has AVX512-BF16, of bf16 dot products, vdpbf16ps) on every thread, and a dependent integer-add
// chain (one per cycle) for the clock. Benchmarks compare against
// cores × GHz × units × lanes × flops per lane (2 for an FMA, 4 for a bf16 pair dot product).
#pragma once
#include <cstdint>
#include <string>

namespace indetail {
namespace cpu {

// Throughput of one instruction loop.
struct PeakLoop {
  double per_cycle = 0;               // instructions per cycle and core, measured (≈ units)
  double gflops_1 = 0;                // one thread, per second of wall time
  double gflops_per_cpu_second = 0;   // one thread, per second of its CPU time (immune to time slicing)
  double gflops_all = 0;              // every thread at once, per second of wall time
  double gflops_per_cpu_second_all = 0;  // every thread at once, per second of CPU time of each
};

struct PeakFma {
  std::string isa;         // kernel used for the fp32 loop: avx512 / avx2
  int lanes = 0;           // floats per vector
  int threads = 0;         // threads that ran the loops at once
  double ghz = 0;          // clock while running (integer add chain per second of thread CPU time)
  double fma_per_cycle = 0;  // the fp32 loop (fields kept flat for the benchmarks)
  double gflops_1 = 0;
  double gflops_per_cpu_second = 0;
  double gflops_all = 0;
  double gflops_per_cpu_second_all = 0;
  bool has_bf16 = false;   // the bf16 loop ran (AVX512-BF16 at the current INDETAIL_CPU_LEVEL)
  PeakLoop bf16;           // vdpbf16ps: 16 lanes × 2 products per instruction
};

// Best of 15 runs of `seconds_per_measurement` each, for each quantity.
PeakFma measure_peak_fma(double seconds_per_measurement);

// Per-ISA loops: run `iters` iterations of independent vector FMAs / dot products; return the
// flops done.
namespace isa_avx512 { double fma_loop(int64_t iters); }
namespace isa_avx2 { double fma_loop(int64_t iters); }
namespace isa_avx512bf16 { double dp_loop(int64_t iters); }
// `iters` × 8 dependent integer adds; returns a value derived from them.
uint64_t add_chain(int64_t iters);

}  // namespace cpu
}  // namespace indetail
