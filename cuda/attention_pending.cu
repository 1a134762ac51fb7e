// CudaBackend::attention until the fused attention kernels land (they replace this file).
#include "../engine/op_checks.h"
#include "cuda_backend.h"

namespace indetail {

void CudaBackend::attention(const Tensor&, const Tensor&, const Tensor&, const Tensor*, const Tensor*, Tensor&,
                            const AttentionParams&) {
  fail(ErrorKind::Unsupported, "the CUDA backend has no kernel for attention yet");
}

}  // namespace indetail
