// Launcher of the general attention kernel (attention_simple_kernel.cuh).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "attention_simple_kernel.cuh"

namespace indetail {
namespace cuda {

void launch_attention_simple(const AttnArgs& a, DType dtype, cudaStream_t stream) {
  const dim3 grid((unsigned)((a.q_len + 3) / 4), (unsigned)a.heads, (unsigned)a.frames);
  if (dtype == DType::F16)
    attention_simple_kernel<__half><<<grid, 128, 0, stream>>>(a);
  else
    attention_simple_kernel<__nv_bfloat16><<<grid, 128, 0, stream>>>(a);
}

}  // namespace cuda
}  // namespace indetail
