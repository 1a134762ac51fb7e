// linear: out = act(x · wᵀ + bias) + residual, and linear_geglu, on the GEMM of gemm.h.
#include "../core/tensor.h"
#include "cpu_backend.h"
#include "gemm.h"
#include "gemm_weights.h"
#include "op_util.h"

namespace indetail {

void CpuBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* residual, Tensor& out,
                        const LinearParams& p) {
  using namespace cpu;
  const char* op = "linear";
  check_f32(op, "x", x);
  check_gemm_weight(op, "w", w);
  check_f32(op, "out", out);
  check_arg(w.dim() == 2, "linear: w must be [N, K], got ", w.describe());
  check_arg(x.dim() >= 1, "linear: x must be [..., K], got ", x.describe());
  const int64_t n = w.size(0), k = w.size(1);
  check_arg(x.size(-1) == k, "linear: x ", x.describe(), " does not match w ", w.describe(), " (K = ", k, ")");
  Shape out_shape = x.shape();
  out_shape.back() = n;
  check_shape(op, "out", out, out_shape);
  if (bias) {
    check_f32(op, "bias", *bias);
    check_shape(op, "bias", *bias, {n});
  }
  Tensor res;
  if (residual) {
    check_f32(op, "residual", *residual);
    check_shape(op, "residual", *residual, out_shape);
    res = unaliased(*this, *residual, out);  // in-place residual: the GEMM overwrites out first
  }
  const Tensor xin = unaliased(*this, x, out);
  GemmA a;
  a.x = xin.data<float>();
  a.m = x.numel() / (k ? k : 1);
  if (k == 0) a.m = out.numel() / (n ? n : 1);
  a.k = k;
  a.lda = k;
  GemmEpilogue ep;
  ep.bias = bias ? bias->data<float>() : nullptr;
  ep.residual = residual ? res.data<float>() : nullptr;
  ep.act = p.act;
  cpu::gemm(*this, precision_, a, gemm_weight(w), n, out.data<float>(), ep);
}

// The GEGLU projection with a · gelu(g) applied as the product is stored: the 2F-wide
// intermediate never reaches memory.
void CpuBackend::linear_geglu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  using namespace cpu;
  const char* op = "linear_geglu";
  check_f32(op, "x", x);
  check_gemm_weight(op, "w", w);
  check_f32(op, "out", out);
  check_arg(w.dim() == 2 && w.size(0) % 2 == 0, "linear_geglu: w must be [2F, K], got ", w.describe());
  check_arg(x.dim() >= 1, "linear_geglu: x must be [..., K], got ", x.describe());
  const int64_t f = w.size(0) / 2, k = w.size(1);
  check_arg(x.size(-1) == k, "linear_geglu: x ", x.describe(), " does not match w ", w.describe(), " (K = ", k, ")");
  Shape out_shape = x.shape();
  out_shape.back() = f;
  check_shape(op, "out", out, out_shape);
  if (bias) {
    check_f32(op, "bias", *bias);
    check_shape(op, "bias", *bias, {2 * f});
  }
  const Tensor xin = unaliased(*this, x, out);
  GemmA a;
  a.x = xin.data<float>();
  a.m = k ? x.numel() / k : (f ? out.numel() / f : 0);
  a.k = k;
  a.lda = k;
  gemm_geglu(*this, precision_, a, gemm_weight(w), f, bias ? bias->data<float>() : nullptr, out.data<float>());
}

}  // namespace indetail
