// The normalise step of GroupNorm and LayerNorm for one element, shared by the norm kernels and
// the Hopper GEMM that applies them while it loads its operand (sm90/gemm_sm90.cu), so the fused
// and the separate paths round the same F32 operations in the same order.
#pragma once
#include <cuda_runtime.h>

namespace indetail {
namespace cuda {

// GroupNorm: y = x·scale + shift (then SiLU), (scale, shift) = (rstd·γ, β − mean·rstd·γ) of the
// element's frame and channel.
__device__ __forceinline__ float gn_value(float x, float2 scale_shift, bool silu) {
  float y = x * scale_shift.x + scale_shift.y;
  if (silu) y = y / (1.0f + __expf(-y));
  return y;
}

// LayerNorm: y = (x − mean)·rstd·γ + β with (mean, rstd) of the element's row.
__device__ __forceinline__ float ln_value(float x, float2 mean_rstd, float gamma, float beta) {
  return (x - mean_rstd.x) * mean_rstd.y * gamma + beta;
}

}  // namespace cuda
}  // namespace indetail
