// Sinusoidal timestep embedding (diffusers get_timestep_embedding).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../engine/core/dtype.h"

namespace indetail {
namespace cuda {

// t: [N] (t_dtype: any float) -> out: [N, dim] (out_dtype: F16/BF16)
void launch_timestep_embedding(DType t_dtype, const void* t, DType out_dtype, void* out, int64_t N, int dim,
                               bool flip_sin_to_cos, float freq_shift, float max_period, float scale,
                               cudaStream_t stream);

}  // namespace cuda
}  // namespace indetail
