// bf16 dot-product throughput loop for AVX512-BF16 (peak_zmm_loop.h): 24 independent vdpbf16ps
// a step, each 16 lanes × 2 products × 2 flops = 64 flops, twice an fp32 FMA.
#include "peak.h"
#include "peak_zmm_loop.h"

namespace indetail {
namespace cpu {
namespace isa_avx512bf16 {

double dp_loop(int64_t iters) {
  if (iters <= 0) return 0;
  int64_t n = iters;
  INDETAIL_ZMM_LOOP("vdpbf16ps", n);
  return (double)iters * 24 * 16 * 4;
}

}  // namespace isa_avx512bf16
}  // namespace cpu
}  // namespace indetail
