// conv2d: NHWC convolution as an implicit GEMM (gemm.h): rows = output pixels, K = KH·KW·Cin,
// B = the weight [Cout, KH, KW, Cin]; bias, per-frame bias, residual and out_scale fused.
#include "../core/tensor.h"
#include "cpu_backend.h"
#include "gemm.h"
#include "gemm_weights.h"
#include "op_util.h"

namespace indetail {

void CpuBackend::conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* frame_bias,
                        const Tensor* residual, Tensor& out, const Conv2dParams& p) {
  using namespace cpu;
  const char* op = "conv2d";
  check_f32(op, "x", x);
  check_gemm_weight(op, "w", w);
  check_f32(op, "out", out);
  check_rank(op, "x", x, 4);
  check_rank(op, "w", w, 4);
  check_rank(op, "out", out, 4);
  check_arg(p.stride >= 1, "conv2d: stride must be at least 1, got ", p.stride);
  check_arg(p.pad >= 0, "conv2d: pad must not be negative, got ", p.pad);
  const int64_t pad_end = p.pad_end < 0 ? p.pad : p.pad_end;  // bottom/right; the input reads are bounds-checked
  const int64_t frames = x.size(0), h = x.size(1), wd = x.size(2), cin = x.size(3);
  const int64_t cout = w.size(0), kh = w.size(1), kw = w.size(2);
  check_arg(w.size(3) == cin, "conv2d: w ", w.describe(), " must be [Cout, KH, KW, Cin] with Cin = ", cin,
            " of x ", x.describe());
  check_arg(h + p.pad + pad_end >= kh && wd + p.pad + pad_end >= kw, "conv2d: kernel ", kh, "x", kw,
            " larger than the padded input ", x.describe(), " (pad ", p.pad, ", ", pad_end, ")");
  const int64_t ho = (h + p.pad + pad_end - kh) / p.stride + 1, wo = (wd + p.pad + pad_end - kw) / p.stride + 1;
  check_shape(op, "out", out, {frames, ho, wo, cout});
  if (bias) {
    check_f32(op, "bias", *bias);
    check_shape(op, "bias", *bias, {cout});
  }
  if (frame_bias) {
    check_f32(op, "frame_bias", *frame_bias);
    check_shape(op, "frame_bias", *frame_bias, {frames, cout});
  }
  Tensor res;
  if (residual) {
    check_f32(op, "residual", *residual);
    check_shape(op, "residual", *residual, out.shape());
    res = unaliased(*this, *residual, out);
  }
  const Tensor xin = unaliased(*this, x, out);
  GemmA a;
  a.x = xin.data<float>();
  a.m = frames * ho * wo;
  a.k = kh * kw * cin;
  if (kh == 1 && kw == 1 && p.stride == 1 && p.pad == 0 && pad_end == 0) {
    a.lda = cin;  // a 1x1 convolution is a plain GEMM over the pixels
  } else {
    a.h = h;
    a.w = wd;
    a.c = cin;
    a.ho = ho;
    a.wo = wo;
    a.kh = (int)kh;
    a.kw = (int)kw;
    a.stride = p.stride;
    a.pad = p.pad;
  }
  GemmEpilogue ep;
  ep.bias = bias ? bias->data<float>() : nullptr;
  ep.frame_bias = frame_bias ? frame_bias->data<float>() : nullptr;
  ep.rows_per_frame = ho * wo > 0 ? ho * wo : 1;
  ep.residual = residual ? res.data<float>() : nullptr;
  ep.scale = p.out_scale;
  cpu::gemm(*this, precision_, a, gemm_weight(w), cout, out.data<float>(), ep);
}

}  // namespace indetail
