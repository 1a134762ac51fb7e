// conv2d: NHWC convolution as an implicit GEMM (gemm.h): rows = output pixels, K = KH·KW·Cin,
// B = the weight [Cout, KH, KW, Cin]; bias, per-frame bias, residual and out_scale fused.
//
// In the bf16 precision the input is rounded to bf16 once before a KH×KW > 1 convolution (the
// implicit im2col reads every input pixel KH·KW times: it then copies bf16 instead of converting
// fp32 each time), and group_norm_conv2d writes the normalised (SiLU) input straight in bf16: the
// fp32 normalised tensor is never written. In fp32 group_norm_conv2d is group_norm + conv2d (a
// fused input would recompute the SiLU KH·KW times).
#include "../core/tensor.h"
#include "cpu_backend.h"
#include "gemm.h"
#include "gemm_weights.h"
#include "group_norm.h"
#include "op_util.h"

namespace indetail {

namespace {

struct ConvGeometry {
  int64_t frames, h, w, cin, cout, kh, kw, ho, wo, pad_end;
};

ConvGeometry check_conv(const char* op, const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* frame_bias,
                        const Tensor* residual, const Tensor& out, const Conv2dParams& p) {
  using namespace cpu;
  check_f32(op, "x", x);
  check_gemm_weight(op, "w", w);
  check_f32(op, "out", out);
  check_rank(op, "x", x, 4);
  check_rank(op, "w", w, 4);
  check_rank(op, "out", out, 4);
  check_arg(p.stride >= 1, op, ": stride must be at least 1, got ", p.stride);
  check_arg(p.pad >= 0, op, ": pad must not be negative, got ", p.pad);
  ConvGeometry g;
  g.pad_end = p.pad_end < 0 ? p.pad : p.pad_end;  // bottom/right; the input reads are bounds-checked
  g.frames = x.size(0), g.h = x.size(1), g.w = x.size(2), g.cin = x.size(3);
  g.cout = w.size(0), g.kh = w.size(1), g.kw = w.size(2);
  check_arg(w.size(3) == g.cin, op, ": w ", w.describe(), " must be [Cout, KH, KW, Cin] with Cin = ", g.cin, " of x ",
            x.describe());
  check_arg(g.h + p.pad + g.pad_end >= g.kh && g.w + p.pad + g.pad_end >= g.kw, op, ": kernel ", g.kh, "x", g.kw,
            " larger than the padded input ", x.describe(), " (pad ", p.pad, ", ", g.pad_end, ")");
  g.ho = (g.h + p.pad + g.pad_end - g.kh) / p.stride + 1, g.wo = (g.w + p.pad + g.pad_end - g.kw) / p.stride + 1;
  check_shape(op, "out", out, {g.frames, g.ho, g.wo, g.cout});
  if (bias) {
    check_f32(op, "bias", *bias);
    check_shape(op, "bias", *bias, {g.cout});
  }
  if (frame_bias) {
    check_f32(op, "frame_bias", *frame_bias);
    check_shape(op, "frame_bias", *frame_bias, {g.frames, g.cout});
  }
  if (residual) {
    check_f32(op, "residual", *residual);
    check_shape(op, "residual", *residual, out.shape());
  }
  return g;
}

// The GEMM of a checked convolution whose input is x (fp32) or xb (bf16, x's layout).
void conv_gemm(Backend& be, cpu::GemmPrecision prec, const ConvGeometry& g, const float* x, const uint16_t* xb,
               const Tensor& w, const Tensor* bias, const Tensor* frame_bias, const Tensor* residual, Tensor& out,
               const Conv2dParams& p) {
  using namespace cpu;
  Tensor res;
  if (residual) res = unaliased(be, *residual, out);  // an in-place residual: the GEMM overwrites out first
  GemmA a;
  a.x = x;
  a.xb = xb;
  a.m = g.frames * g.ho * g.wo;
  a.k = g.kh * g.kw * g.cin;
  if (g.kh == 1 && g.kw == 1 && p.stride == 1 && p.pad == 0 && g.pad_end == 0) {
    a.lda = g.cin;  // a 1x1 convolution is a plain GEMM over the pixels
  } else {
    a.h = g.h;
    a.w = g.w;
    a.c = g.cin;
    a.ho = g.ho;
    a.wo = g.wo;
    a.kh = (int)g.kh;
    a.kw = (int)g.kw;
    a.stride = p.stride;
    a.pad = p.pad;
  }
  GemmEpilogue ep;
  ep.bias = bias ? bias->data<float>() : nullptr;
  ep.frame_bias = frame_bias ? frame_bias->data<float>() : nullptr;
  ep.rows_per_frame = g.ho * g.wo > 0 ? g.ho * g.wo : 1;
  ep.residual = residual ? res.data<float>() : nullptr;
  ep.scale = p.out_scale;
  gemm(be, prec, a, gemm_weight(w), g.cout, out.data<float>(), ep);
}

}  // namespace

void CpuBackend::conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* frame_bias,
                        const Tensor* residual, Tensor& out, const Conv2dParams& p) {
  using namespace cpu;
  const ConvGeometry g = check_conv("conv2d", x, w, bias, frame_bias, residual, out, p);
  if (precision_ == GemmPrecision::BF16 && g.kh * g.kw > 1 && x.numel() > 0) {
    Tensor xb = empty(DType::BF16, x.shape());
    store_bf16(x, xb.data<uint16_t>());
    conv_gemm(*this, precision_, g, nullptr, xb.data<uint16_t>(), w, bias, frame_bias, residual, out, p);
    return;
  }
  const Tensor xin = unaliased(*this, x, out);
  conv_gemm(*this, precision_, g, xin.data<float>(), nullptr, w, bias, frame_bias, residual, out, p);
}

void CpuBackend::group_norm_conv2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, const GroupNormParams& gn,
                                   const Tensor& w, const Tensor* bias, const Tensor* frame_bias,
                                   const Tensor* residual, Tensor& out, const Conv2dParams& p) {
  using namespace cpu;
  if (precision_ != GemmPrecision::BF16) {
    Backend::group_norm_conv2d(x, gamma, beta, gn, w, bias, frame_bias, residual, out, p);
    return;
  }
  const char* op = "group_norm_conv2d";
  const ConvGeometry g = check_conv(op, x, w, bias, frame_bias, residual, out, p);
  GroupNormCoefficients k = group_norm_coefficients(*this, op, x, gamma, beta, gn);
  Tensor xb = empty(DType::BF16, x.shape());
  group_norm_apply(k, x, gn.silu, xb.raw(), true);
  conv_gemm(*this, precision_, g, nullptr, xb.data<uint16_t>(), w, bias, frame_bias, residual, out, p);
}

}  // namespace indetail
