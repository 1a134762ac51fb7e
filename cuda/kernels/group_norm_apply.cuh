// The normalise step of GroupNorm for one element, shared by the group_norm kernel's apply pass
// and the Hopper convolution that applies it while loading its operand (sm90/gemm_sm90.cu), so
// the fused and the separate paths round the same F32 operations: y = x·scale + shift (then SiLU)
// with (scale, shift) = (rstd·γ, β − mean·rstd·γ) of the element's frame and channel.
#pragma once
#include <cuda_runtime.h>

namespace indetail {
namespace cuda {

__device__ __forceinline__ float gn_value(float x, float2 scale_shift, bool silu) {
  float y = x * scale_shift.x + scale_shift.y;
  if (silu) y = y / (1.0f + __expf(-y));
  return y;
}

}  // namespace cuda
}  // namespace indetail
