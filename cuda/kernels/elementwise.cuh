// Elementwise kernels on F32 / F16 / BF16 storage with F32 math.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../engine/core/dtype.h"

namespace indetail {
namespace cuda {

void launch_fill(DType dtype, void* y, int64_t n, float value, cudaStream_t stream);
void launch_axpy(DType dtype, float a, const void* x, void* y, int64_t n, cudaStream_t stream);
// Converts between float storage types (also same-type copies).
void launch_convert(DType from, const void* src, DType to, void* dst, int64_t n, cudaStream_t stream);

}  // namespace cuda
}  // namespace indetail
