#include "backend.h"

#include "op_checks.h"

namespace indetail {

void Backend::linear_geglu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  check_arg(x.dim() >= 1 && w.dim() == 2, "linear_geglu: x must be [..., K] and w [2F, K], got ", x.describe(),
            " and ", w.describe());
  Shape proj_shape = x.shape();
  proj_shape.back() = w.size(0);
  Tensor proj = empty(proj_shape);
  linear(x, w, bias, nullptr, proj, LinearParams{});
  geglu(proj, out);
}

void Backend::group_norm_conv2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, const GroupNormParams& gn,
                                const Tensor& w, const Tensor* bias, const Tensor* frame_bias, const Tensor* residual,
                                Tensor& out, const Conv2dParams& p) {
  Tensor normed = empty(x.dtype(), x.shape());
  group_norm(x, gamma, beta, normed, gn);
  conv2d(normed, w, bias, frame_bias, residual, out, p);
}

}  // namespace indetail
