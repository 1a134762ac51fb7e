// Per-ISA kernels of group_norm and layer_norm (norm_kernels.inc; drivers in norms.cc).
#pragma once
#include <cstdint>

namespace indetail {
namespace cpu {

struct NormKernels {
  // sums[c] += Σ_p v(p, c) over `pixels` rows of `c` channels, v = x - center[c], squared when
  // `squared`; float partial sums over 64 rows at a time (tmp: c floats), then double.
  void (*channel_sums)(const float* x, int64_t pixels, int64_t c, const float* center, bool squared, double* sums,
                       float* tmp);
  // y = (x - center[c]) · scale[c] + shift[c], then SiLU when silu, for `pixels` rows of c channels.
  void (*affine)(const float* x, float* y, int64_t pixels, int64_t c, const float* center, const float* scale,
                 const float* shift, bool silu);
  // The same, stored as bf16 (round to nearest even).
  void (*affine_bf16)(const float* x, uint16_t* y, int64_t pixels, int64_t c, const float* center, const float* scale,
                      const float* shift, bool silu);
  // y = x rounded to bf16 (round to nearest even), n values.
  void (*to_bf16)(const float* x, uint16_t* y, int64_t n);
  // LayerNorm of `rows` rows of c: sums shifted by the row's first value, variance from centred
  // squares, and the rounding of the float mean compensated (biased variance).
  void (*layer_norm_rows)(const float* x, float* y, int64_t rows, int64_t c, const float* gamma, const float* beta,
                          float eps);
};

namespace isa_avx512 { const NormKernels& norm_kernel_table(); }
namespace isa_avx2 { const NormKernels& norm_kernel_table(); }
namespace isa_generic { const NormKernels& norm_kernel_table(); }
const NormKernels& norm_kernels();

}  // namespace cpu
}  // namespace indetail
