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

}  // namespace indetail
