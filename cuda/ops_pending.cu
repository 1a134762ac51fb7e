// Ops of the interface that have no CUDA kernel yet. Each throws Error(Unsupported) so callers
// learn which op is missing; the CUDA ops issue replaces this file with kernels.
#include "../engine/op_checks.h"
#include "cuda_backend.h"

namespace indetail {

namespace {
[[noreturn]] void pending(const char* op) {
  fail(ErrorKind::Unsupported, "the CUDA backend has no kernel for ", op, " yet");
}
}  // namespace

void CudaBackend::linear(const Tensor&, const Tensor&, const Tensor*, const Tensor*, Tensor&, const LinearParams&) { pending("linear"); }
void CudaBackend::linear_geglu(const Tensor&, const Tensor&, const Tensor*, Tensor&) { pending("linear_geglu"); }
void CudaBackend::geglu(const Tensor&, Tensor&) { pending("geglu"); }
void CudaBackend::conv2d(const Tensor&, const Tensor&, const Tensor*, const Tensor*, const Tensor*, Tensor&, const Conv2dParams&) { pending("conv2d"); }
void CudaBackend::group_norm(const Tensor&, const Tensor&, const Tensor&, Tensor&, const GroupNormParams&) { pending("group_norm"); }
void CudaBackend::layer_norm(const Tensor&, const Tensor&, const Tensor&, Tensor&, float) { pending("layer_norm"); }
void CudaBackend::upsample_nearest(const Tensor&, Tensor&) { pending("upsample_nearest"); }
void CudaBackend::timestep_embedding(const Tensor&, Tensor&, const TimestepEmbeddingParams&) { pending("timestep_embedding"); }
void CudaBackend::activation(const Tensor&, Tensor&, Activation) { pending("activation"); }
void CudaBackend::add(const Tensor&, const Tensor&, Tensor&, float) { pending("add"); }
void CudaBackend::scale_frames(const Tensor&, const std::vector<float>&, Tensor&) { pending("scale_frames"); }
void CudaBackend::concat_channels(const Tensor&, const Tensor&, Tensor&) { pending("concat_channels"); }
void CudaBackend::embedding(const Tensor&, const Tensor&, Tensor&) { pending("embedding"); }
void CudaBackend::guidance_step(const Tensor&, const Tensor&, const Tensor*, Tensor&, const GuidanceStepParams&) { pending("guidance_step"); }

}  // namespace indetail
