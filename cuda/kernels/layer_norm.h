// LayerNorm over the last dimension: one warp per row, statistics in F32.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../engine/core/dtype.h"

namespace indetail {
namespace cuda {

// x, out: [rows, C] compute dtype; gamma, beta: [C] F32.
void launch_layer_norm(DType dtype, const void* x, void* out, const float* gamma, const float* beta, int64_t rows,
                       int C, float eps, cudaStream_t stream);
// The statistics only: (mean, rstd) per row into stats [rows], for a consumer that normalises
// while it reads x (ln_value of norm_apply.cuh).
void launch_layer_norm_stats(DType dtype, const void* x, float2* stats, int64_t rows, int C, float eps,
                             cudaStream_t stream);

}  // namespace cuda
}  // namespace indetail
