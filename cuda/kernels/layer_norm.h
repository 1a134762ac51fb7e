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

}  // namespace cuda
}  // namespace indetail
