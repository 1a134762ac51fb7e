// Ops of the interface that the CPU backend does not implement yet; the CPU engine issue
// replaces this file with the reference implementations.
#include "../op_checks.h"
#include "cpu_backend.h"

namespace indetail {

namespace {
[[noreturn]] void pending(const char* op) {
  fail(ErrorKind::Unsupported, "the CPU backend has no implementation of ", op, " yet");
}
}  // namespace

void CpuBackend::linear(const Tensor&, const Tensor&, const Tensor*, const Tensor*, Tensor&, const LinearParams&) { pending("linear"); }
void CpuBackend::geglu(const Tensor&, Tensor&) { pending("geglu"); }
void CpuBackend::conv2d(const Tensor&, const Tensor&, const Tensor*, const Tensor*, const Tensor*, Tensor&, const Conv2dParams&) { pending("conv2d"); }
void CpuBackend::group_norm(const Tensor&, const Tensor&, const Tensor&, Tensor&, const GroupNormParams&) { pending("group_norm"); }
void CpuBackend::layer_norm(const Tensor&, const Tensor&, const Tensor&, Tensor&, float) { pending("layer_norm"); }
void CpuBackend::attention(const Tensor&, const Tensor&, const Tensor&, const Tensor*, const Tensor*, Tensor&, const AttentionParams&) { pending("attention"); }
void CpuBackend::upsample_nearest(const Tensor&, Tensor&) { pending("upsample_nearest"); }
void CpuBackend::timestep_embedding(const Tensor&, Tensor&, const TimestepEmbeddingParams&) { pending("timestep_embedding"); }
void CpuBackend::activation(const Tensor&, Tensor&, Activation) { pending("activation"); }
void CpuBackend::add(const Tensor&, const Tensor&, Tensor&, float) { pending("add"); }
void CpuBackend::scale_frames(const Tensor&, const std::vector<float>&, Tensor&) { pending("scale_frames"); }
void CpuBackend::concat_channels(const Tensor&, const Tensor&, Tensor&) { pending("concat_channels"); }
void CpuBackend::embedding(const Tensor&, const Tensor&, Tensor&) { pending("embedding"); }
void CpuBackend::guidance_step(const Tensor&, const Tensor&, const Tensor*, Tensor&, const GuidanceStepParams&) { pending("guidance_step"); }

}  // namespace indetail
