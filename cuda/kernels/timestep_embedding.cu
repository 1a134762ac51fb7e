// version 1: one thread per output value. Like diffusers: freq_i = exp(-ln(max_period)·i /
// (half − freq_shift)), arg = scale·(t·freq_i) in F32; sin/cos are taken in double because
// --use_fast_math would turn sinf/cosf into approximations that are poor for arguments ~1000.
#include <cmath>

#include "../../engine/core/error.h"
#include "timestep_embedding.h"
#include "vec.cuh"

namespace indetail {
namespace cuda {

namespace {

template <typename TI, typename TO>
__global__ void timestep_embedding_kernel(const TI* t, TO* out, int64_t N, int dim, int flip, float freq_shift,
                                          float log_max_period, float scale) {
  const int half = dim / 2;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < N * dim;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = idx / dim;
    const int j = (int)(idx - n * dim);
    float v = 0.0f;  // the odd last column stays zero
    if (j < 2 * half) {
      const bool first = j < half;
      const int i = first ? j : j - half;
      const float freq = (float)exp(-(double)log_max_period * (double)i / ((double)half - (double)freq_shift));
      const float arg = scale * (to_float(t[n]) * freq);
      const bool use_cos = flip ? first : !first;
      v = (float)(use_cos ? cos((double)arg) : sin((double)arg));
    }
    out[idx] = from_float<TO>(v);
  }
}

}  // namespace

void launch_timestep_embedding(DType t_dtype, const void* t, DType out_dtype, void* out, int64_t N, int dim,
                               bool flip_sin_to_cos, float freq_shift, float max_period, float scale,
                               cudaStream_t stream) {
  if (N == 0 || dim == 0) return;
  const float log_mp = std::log(max_period);
  INDETAIL_DISPATCH_FLOAT(t_dtype, TI, INDETAIL_DISPATCH_HALF(out_dtype, TO, {
    timestep_embedding_kernel<TI, TO><<<blocks_for(N * dim), 256, 0, stream>>>(
        static_cast<const TI*>(t), static_cast<TO*>(out), N, dim, flip_sin_to_cos ? 1 : 0, freq_shift, log_mp, scale);
  }));
}

}  // namespace cuda
}  // namespace indetail
