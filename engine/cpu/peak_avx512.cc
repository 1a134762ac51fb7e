// FMA throughput loop for AVX-512 (peak_zmm_loop.h): 24 independent vfmadd231ps a step, 32 flops
// each.
#include "peak.h"
#include "peak_zmm_loop.h"

namespace indetail {
namespace cpu {
namespace isa_avx512 {

double fma_loop(int64_t iters) {
  if (iters <= 0) return 0;
  int64_t n = iters;
  INDETAIL_ZMM_LOOP("vfmadd231ps", n);
  return (double)iters * 24 * 16 * 2;
}

}  // namespace isa_avx512
}  // namespace cpu
}  // namespace indetail
