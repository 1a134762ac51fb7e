// The Hopper attention kernel for head dim 80 (attention_sm90_kernel.cuh).
#include "attention_sm90_kernel.cuh"

namespace indetail {
namespace cuda {
template void launch_attention_sm90_d<80>(const AttnSm90Params&, cudaStream_t);
}  // namespace cuda
}  // namespace indetail
