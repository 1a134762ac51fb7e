// The Hopper (sm_90a) attention kernel: the AttnArgs contract of attention.cuh (the image-prompt
// policy: plain, concat, stratified dual softmax, replace, a cached reference, causal own keys,
// column windows) on wgmma with TMA loads, a producer warpgroup and two consumer warpgroups.
// F16, head dims 40, 64, 80 and 160 (SD1.5 uses 40/80/160, SD2 and SDXL 64); everything else runs
// the flash kernel. Only built with INDETAIL_WITH_SM90A, only selected on compute capability 9.0.
#pragma once
#include <cuda.h>
#include <cuda_runtime.h>

#include <string>

#include "../../../engine/core/dtype.h"
#include "../attention.cuh"

namespace indetail {
namespace cuda {

// Empty when the Hopper kernel takes the call, else why not.
std::string sm90_attention_problem(const AttnArgs& a, DType dtype);

// Launches it (sm90_attention_problem must be empty).
void launch_attention_sm90(const AttnArgs& a, DType dtype, cudaStream_t stream);

// Keys per K/V tile: 128 up to head dim 64, else 64 (registers and shared memory).
constexpr int sm90_attention_keys_per_tile(int D) { return D <= 64 ? 128 : 64; }

// The kernel's parameters: q, k, v (and the cache's k_ref, v_ref, else k, v again) as tensor maps
// (D, heads, rows, frames), and the arguments.
struct AttnSm90Params {
  CUtensorMap q, k, v, kr, vr;
  AttnArgs a;
};

// Per head dim (attention_sm90_d<D>.cu, instantiated from attention_sm90_kernel.cuh).
template <int D>
void launch_attention_sm90_d(const AttnSm90Params& p, cudaStream_t stream);
extern template void launch_attention_sm90_d<40>(const AttnSm90Params&, cudaStream_t);
extern template void launch_attention_sm90_d<64>(const AttnSm90Params&, cudaStream_t);
extern template void launch_attention_sm90_d<80>(const AttnSm90Params&, cudaStream_t);
extern template void launch_attention_sm90_d<160>(const AttnSm90Params&, cudaStream_t);

}  // namespace cuda
}  // namespace indetail
