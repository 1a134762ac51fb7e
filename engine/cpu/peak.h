// The machine's fp32 FMA peak, measured: a loop of independent FMAs on every thread (throughput)
// and a dependent integer-add chain (one per cycle) for the clock. Benchmarks compare against
// cores × GHz × FMA units × lanes × 2.
#pragma once
#include <cstdint>
#include <string>

namespace indetail {
namespace cpu {

struct PeakFma {
  std::string isa;         // kernel used: avx512 / avx2
  int lanes = 0;           // floats per vector
  int threads = 0;         // threads that ran the FMA loop at once
  double ghz = 0;            // clock while running (integer add chain per second of thread CPU time)
  double fma_per_cycle = 0;  // vector FMAs per cycle and core, measured (≈ FMA units)
  double gflops_1 = 0;       // one thread, per second of wall time
  double gflops_per_cpu_second = 0;  // one thread, per second of its CPU time (immune to time slicing)
  double gflops_all = 0;     // every thread at once, per second of wall time
  double gflops_per_cpu_second_all = 0;  // every thread at once, per second of CPU time of each
};

// Best of 15 runs of `seconds_per_measurement` each, for each quantity.
PeakFma measure_peak_fma(double seconds_per_measurement);

// Per-ISA loops: run `iters` iterations of independent vector FMAs; return the flops done.
namespace isa_avx512 { double fma_loop(int64_t iters); }
namespace isa_avx2 { double fma_loop(int64_t iters); }
// `iters` × 8 dependent integer adds; returns a value derived from them.
uint64_t add_chain(int64_t iters);

}  // namespace cpu
}  // namespace indetail
