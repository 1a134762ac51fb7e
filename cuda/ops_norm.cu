// group_norm and layer_norm: argument checks and launches (cuda/kernels/group_norm.cu,
// cuda/kernels/layer_norm.cu).
#include "../engine/op_checks.h"
#include "cuda_backend.h"
#include "kernels/group_norm.h"
#include "kernels/layer_norm.h"
#include "kernels/vec.cuh"

namespace indetail {

void CudaBackend::group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& out,
                             const GroupNormParams& p) {
  const char* op = "group_norm";
  ensure_usable();
  check_activation(op, "x", x);
  check_activation(op, "out", out);
  check_arg(x.dim() >= 2, "group_norm: x must be [N, H, W, C], got ", x.describe());
  check_same_shape(op, "x", x, "out", out);
  const int64_t N = x.size(0), C = x.size(-1);
  check_arg(p.groups > 0 && C % p.groups == 0, "group_norm: ", p.groups, " groups do not divide the ", C,
            " channels of x ", x.describe());
  check_param(op, "gamma", gamma, C);
  check_param(op, "beta", beta, C);
  check_arg(N <= 65535 && C <= (1LL << 30), "group_norm: x ", x.describe(), " is too large for the CUDA kernel");
  if (x.numel() == 0) return;
  const int64_t HW = x.numel() / (N * C);
  const cuda::GroupNormPlan plan =
      cuda::plan_group_norm(N, HW, C, cuda::aligned16(x.raw()) && cuda::aligned16(out.raw()), num_sms());
  Tensor ws = scratch_f32(plan.partial_floats + 2 * N * C);
  cuda::launch_group_norm(compute_, plan, x.raw(), out.raw(), gamma.data<float>(), beta.data<float>(), (int)N, HW,
                          (int)C, p.groups, p.eps, p.silu, ws.data<float>(), stream_);
  check_launch(op);
}

void CudaBackend::layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& out, float eps) {
  const char* op = "layer_norm";
  ensure_usable();
  check_activation(op, "x", x);
  check_activation(op, "out", out);
  check_arg(x.dim() >= 1, "layer_norm: x must be [..., C], got ", x.describe());
  check_same_shape(op, "x", x, "out", out);
  const int64_t C = x.size(-1);
  check_param(op, "gamma", gamma, C);
  check_param(op, "beta", beta, C);
  check_arg(C <= (1LL << 30), "layer_norm: x ", x.describe(), " is too wide for the CUDA kernel");
  if (x.numel() == 0) return;
  cuda::launch_layer_norm(compute_, x.raw(), out.raw(), gamma.data<float>(), beta.data<float>(), x.numel() / C,
                          (int)C, eps, stream_);
  check_launch(op);
}

}  // namespace indetail
