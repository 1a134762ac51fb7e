// Data movement ops: concat_channels, upsample_nearest, embedding (any 16-bit compute dtype).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../engine/core/dtype.h"

namespace indetail {
namespace cuda {

// a: [rows, Ca], b: [rows, Cb] -> out: [rows, Ca + Cb]
void launch_concat_channels(DType dtype, const void* a, const void* b, void* out, int64_t rows, int64_t Ca,
                            int64_t Cb, cudaStream_t stream);
// x: [N, H, W, C] -> out: [N, Ho, Wo, C], src = floor(dst * in / out)
void launch_upsample_nearest(DType dtype, const void* x, void* out, int64_t N, int64_t H, int64_t W, int64_t Ho,
                             int64_t Wo, int64_t C, cudaStream_t stream);
// ids: device I32 [tokens] (validated by the caller); table: [V, C] -> out: [tokens, C]
void launch_embedding(DType dtype, const int32_t* ids, const void* table, void* out, int64_t tokens, int64_t C,
                      cudaStream_t stream);

}  // namespace cuda
}  // namespace indetail
