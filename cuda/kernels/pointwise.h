// Elementwise ops on F16/BF16 storage with F32 math: activation, add, scale_frames, geglu.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "../../engine/core/dtype.h"

namespace indetail {
namespace cuda {

// out = act(x) over n elements (act: ActCode).
void launch_activation(DType dtype, const void* x, void* out, int64_t n, int act, cudaStream_t stream);
// out = a + alpha * b over n elements.
void launch_add(DType dtype, const void* a, const void* b, void* out, int64_t n, float alpha, cudaStream_t stream);
// out[f] = x[f] * scale[f] for each of scale.size() frames of frame_elems elements.
void launch_scale_frames(DType dtype, const void* x, void* out, int64_t frame_elems, const std::vector<float>& scale,
                         cudaStream_t stream);
// x: [rows, 2F] -> out: [rows, F], out = x[:, :F] * gelu(x[:, F:]).
void launch_geglu(DType dtype, const void* x, void* out, int64_t rows, int64_t F, cudaStream_t stream);

}  // namespace cuda
}  // namespace indetail
