// GroupNorm (+ SiLU) over NHWC: one read of x for the statistics, one fused normalise pass.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../engine/core/dtype.h"

namespace indetail {
namespace cuda {

struct GroupNormPlan {
  int vw = 1;              // channels per thread load (8 when C % 8 == 0 and the tensors are aligned)
  int cvb = 1;             // channel vectors per statistics block
  int zs = 1;              // channel slices (grid.y)
  int rpi = 1;             // rows per iteration of a statistics block (256 / cvb)
  int chunks = 1;          // row chunks per frame (grid.x)
  int rows_per_chunk = 1;
  int64_t partial_floats = 0;  // workspace: [N, chunks, C] (mean, M2) pairs, then [N, C] (scale, shift)
};

// Plans are made for this many frames whatever the batch, so results are batch-invariant.
constexpr int64_t kPlanFrames = 2;
GroupNormPlan plan_group_norm(int64_t N, int64_t HW, int64_t C, bool vec_ok, int num_sms);

// x, out: [N, HW, C] compute dtype; gamma, beta: [C] F32; workspace: plan.partial_floats + 2*N*C floats.
// The statistics pass only: leaves (scale, shift) per frame and channel (float2 [N, C]) at
// workspace + plan.partial_floats for a consumer that normalises while it reads x (gn_value).
void launch_group_norm_stats(DType dtype, const GroupNormPlan& plan, const void* x, const float* gamma,
                             const float* beta, int N, int64_t HW, int C, int groups, float eps, float* workspace,
                             cudaStream_t stream);
// Statistics, then out = normalised x (then SiLU).
void launch_group_norm(DType dtype, const GroupNormPlan& plan, const void* x, void* out, const float* gamma,
                       const float* beta, int N, int64_t HW, int C, int groups, float eps, bool silu,
                       float* workspace, cudaStream_t stream);

}  // namespace cuda
}  // namespace indetail
