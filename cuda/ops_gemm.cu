// linear, linear_geglu, conv2d and their fused-norm forms (layer_norm_linear, layer_norm_linear_geglu,
// group_norm_conv2d): argument checks, then one implicit-GEMM launch with the op's
// epilogue, split-K when the grid is small: the wgmma/TMA kernel (cuda/kernels/sm90/gemm_sm90.cu)
// on compute capability 9.0 when it takes the layer, else the mma.sync kernel (implicit_gemm.cu).
#include <climits>

#include "../engine/op_checks.h"
#include "cuda_backend.h"
#include "kernels/group_norm.h"
#include "kernels/implicit_gemm.h"
#include "kernels/layer_norm.h"
#include "kernels/sm90/gemm_sm90.h"
#include "kernels/vec.cuh"

namespace indetail {

namespace {

void check_int_range(const char* op, const char* what, int64_t v) {
  check_arg(v >= 0 && v <= INT_MAX, op, ": ", what, " = ", v, " is too large for the CUDA kernels");
}

void check_weight(const char* op, const Tensor& w, int rank) {
  check_rank(op, "w", w, rank);
  check_arg(w.layout() == 0, op, ": w ", w.describe(), " has a layout this backend did not produce");
}

cuda::Epilogue make_epilogue(const Tensor& out, int64_t n_out, const Tensor* bias, const Tensor* frame_bias,
                             int64_t rows_per_frame, const Tensor* residual, Activation act, float out_scale,
                             bool geglu) {
  cuda::Epilogue ep;
  ep.out = out.raw();
  ep.bias = bias ? bias->data<float>() : nullptr;
  ep.frame_bias = frame_bias ? frame_bias->raw() : nullptr;
  ep.rows_per_frame = (int)rows_per_frame;
  ep.residual = residual ? residual->raw() : nullptr;
  ep.act = (int)act;
  ep.out_scale = out_scale;
  ep.geglu = geglu ? 1 : 0;
  ep.n_out = (int)n_out;
  ep.vec = n_out % 8 == 0 && cuda::aligned16(ep.out) && (!ep.frame_bias || cuda::aligned16(ep.frame_bias)) &&
           (!ep.residual || cuda::aligned16(ep.residual));
  return ep;
}

// The operands of a linear layer: x as a [1, 1, M, K] image under a 1×1 kernel, Nv weight rows.
cuda::GemmArgs linear_operands(const Tensor& x, const Tensor& w, int64_t M, int64_t K, int64_t Nv) {
  cuda::GemmArgs a;
  a.x = x.raw();
  a.w = w.raw();
  a.N = 1; a.H = 1; a.W = (int)M; a.C = (int)K;
  a.Ho = 1; a.Wo = (int)M;
  a.K = (int)K;
  a.Nv = (int)Nv;
  return a;
}

// Split-K is planned from the rows of one frame: a linear layer's frame is its second-last dimension.
int64_t linear_rows_per_frame(const Tensor& x) { return x.dim() >= 3 ? x.size(-2) : 1; }

}  // namespace

// Fills the operand part of `a` (x, w, geometry, M/Nv/K, vector flags), picks the kernel, plans
// split-K for its tile from the rows of one frame (batch-invariant, see plan_split_k_per_frame), runs.
// The Hopper kernel runs when the device takes sm_90a code and the kernel takes the layer: a
// per-layer decision, so a frame keeps its kernel (and its bits) whatever the batch.
static void run_gemm(CudaBackend& be, const char* op, cuda::GemmArgs& a, int64_t rows_per_frame) {
  a.M = a.N * a.Ho * a.Wo;
  a.vec_a = a.C % 8 == 0 && cuda::aligned16(a.x);
  a.vec_b = a.K % 8 == 0 && cuda::aligned16(a.w);
  bool hopper = false;
  cuda::GemmTile tile = cuda::kGemmTile;
  int k_tiles = 0;
#ifdef INDETAIL_WITH_SM90A
  hopper = be.hopper_kernels() && cuda::sm90_gemm_problem(a).empty();
  if (hopper) {
    tile = cuda::kSm90Tile;
    k_tiles = cuda::sm90_k_tiles(a);
  }
#endif
  const cuda::SplitPlan plan = cuda::plan_split_k_per_frame(rows_per_frame, a.Nv, a.K, be.num_sms(), tile, k_tiles);
  a.splits = plan.splits;
  a.k_tiles_per_split = plan.k_tiles_per_split;
  a.ws_ld = plan.ws_ld;
  Tensor ws;
  if (a.splits > 1) {
    ws = be.scratch_f32((int64_t)a.splits * a.M * a.ws_ld);
    a.workspace = ws.data<float>();
  }
#ifdef INDETAIL_WITH_SM90A
  if (hopper) cuda::launch_gemm_sm90(be.compute_dtype(), a, be.num_sms(), be.stream());
#endif
  if (!hopper) cuda::launch_implicit_gemm(be.compute_dtype(), a, be.stream());
  be.check_launch(op);
}

// linear's (geglu: linear_geglu's) arguments checked and turned into GEMM operands and epilogue.
static cuda::GemmArgs linear_args(CudaBackend& be, const char* op, const Tensor& x, const Tensor& w, const Tensor* bias,
                                  const Tensor* residual, Tensor& out, Activation act, bool geglu) {
  be.check_activation(op, "x", x);
  be.check_activation(op, "w", w);
  be.check_activation(op, "out", out);
  check_weight(op, w, 2);
  const int64_t Nv = w.size(0), K = w.size(1);
  if (geglu) check_arg(Nv % 2 == 0, op, ": w ", w.describe(), " must have an even number of rows [2F, K]");
  const int64_t n_out = geglu ? Nv / 2 : Nv;
  check_arg(x.dim() >= 1 && x.size(-1) == K, op, ": x ", x.describe(), " must end in K = ", K, " of w ", w.describe());
  Shape os = x.shape();
  os.back() = n_out;
  check_shape(op, "out", out, os);
  if (bias) be.check_param(op, "bias", *bias, Nv);
  if (residual) {
    be.check_activation(op, "residual", *residual);
    check_shape(op, "residual", *residual, os);
  }
  const int64_t M = K ? x.numel() / K : 0;
  check_int_range(op, "rows", M);
  check_int_range(op, "K", K);
  check_int_range(op, geglu ? "2F" : "N", Nv);
  check_arg(K > 0, op, ": K must be positive, got w ", w.describe());
  cuda::GemmArgs a = linear_operands(x, w, M, K, Nv);
  a.geglu = geglu ? 1 : 0;
  a.ep = make_epilogue(out, n_out, bias, nullptr, 1, residual, act, 1.0f, geglu);
  return a;
}

void CudaBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* residual, Tensor& out,
                         const LinearParams& p) {
  ensure_usable();
  cuda::GemmArgs a = linear_args(*this, "linear", x, w, bias, residual, out, p.act, false);
  run_gemm(*this, "linear", a, linear_rows_per_frame(x));
}

void CudaBackend::linear_geglu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  ensure_usable();
  cuda::GemmArgs a = linear_args(*this, "linear_geglu", x, w, bias, nullptr, out, Activation::None, true);
  run_gemm(*this, "linear_geglu", a, linear_rows_per_frame(x));
}

// On the Hopper kernel: the LayerNorm statistics pass over x, then the GEMM normalises its operand
// tiles as they arrive (the normalised tensor never exists). False: the caller composes.
static bool run_layer_norm_gemm(CudaBackend& be, const char* op, cuda::GemmArgs& a, const Tensor& x,
                                const Tensor& gamma, const Tensor& beta, float eps) {
#ifdef INDETAIL_WITH_SM90A
  if (!be.hopper_kernels() || a.M == 0 || !cuda::sm90_gemm_problem(a).empty()) return false;
  be.check_param(op, "gamma", gamma, a.K);
  be.check_param(op, "beta", beta, a.K);
  Tensor stats = be.scratch_f32(2LL * a.M);
  cuda::launch_layer_norm_stats(be.compute_dtype(), x.raw(), reinterpret_cast<float2*>(stats.data<float>()), a.M, a.K,
                                eps, be.stream());
  be.check_launch(op);
  a.norm_kind = cuda::kNormLayer;
  a.norm = reinterpret_cast<const float2*>(stats.data<float>());
  a.norm_gamma = gamma.data<float>();
  a.norm_beta = beta.data<float>();
  run_gemm(be, op, a, linear_rows_per_frame(x));
  return true;
#else
  return false;
#endif
}

void CudaBackend::layer_norm_linear(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                                    const Tensor& w, const Tensor* bias, const Tensor* residual, Tensor& out,
                                    const LinearParams& p) {
  const char* op = "layer_norm_linear";
  ensure_usable();
  cuda::GemmArgs a = linear_args(*this, op, x, w, bias, residual, out, p.act, false);
  if (!run_layer_norm_gemm(*this, op, a, x, gamma, beta, eps))
    Backend::layer_norm_linear(x, gamma, beta, eps, w, bias, residual, out, p);
}

void CudaBackend::layer_norm_linear_geglu(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                                          const Tensor& w, const Tensor* bias, Tensor& out) {
  const char* op = "layer_norm_linear_geglu";
  ensure_usable();
  cuda::GemmArgs a = linear_args(*this, op, x, w, bias, nullptr, out, Activation::None, true);
  if (!run_layer_norm_gemm(*this, op, a, x, gamma, beta, eps))
    Backend::layer_norm_linear_geglu(x, gamma, beta, eps, w, bias, out);
}

// conv2d's arguments checked and turned into GEMM operands and epilogue (the op name in errors).
static cuda::GemmArgs conv_args(CudaBackend& be, const char* op, const Tensor& x, const Tensor& w, const Tensor* bias,
                                const Tensor* frame_bias, const Tensor* residual, Tensor& out, const Conv2dParams& p) {
  be.check_activation(op, "x", x);
  be.check_activation(op, "w", w);
  be.check_activation(op, "out", out);
  check_rank(op, "x", x, 4);
  check_weight(op, w, 4);
  const int64_t N = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t Cout = w.size(0), KH = w.size(1), KW = w.size(2);
  check_arg(w.size(3) == C, op, ": w ", w.describe(), " must be [Cout, KH, KW, Cin] with Cin = ", C, " of x ",
            x.describe());
  check_arg(p.stride >= 1, op, ": stride must be at least 1, got ", p.stride);
  check_arg(p.pad >= 0, op, ": pad must not be negative, got ", p.pad);
  const int64_t pad_end = p.pad_end < 0 ? p.pad : p.pad_end;  // bottom/right; the kernel bounds-checks reads
  check_arg(H + p.pad + pad_end >= KH && W + p.pad + pad_end >= KW, op, ": the ", KH, "x", KW,
            " kernel does not fit x ", x.describe(), " with pad ", p.pad, ", ", pad_end);
  const int64_t Ho = (H + p.pad + pad_end - KH) / p.stride + 1;
  const int64_t Wo = (W + p.pad + pad_end - KW) / p.stride + 1;
  const Shape os = {N, Ho, Wo, Cout};
  check_shape(op, "out", out, os);
  if (bias) be.check_param(op, "bias", *bias, Cout);
  if (frame_bias) {
    be.check_activation(op, "frame_bias", *frame_bias);
    check_shape(op, "frame_bias", *frame_bias, {N, Cout});
  }
  if (residual) {
    be.check_activation(op, "residual", *residual);
    check_shape(op, "residual", *residual, os);
  }
  check_int_range(op, "N*Ho*Wo", N * Ho * Wo);
  check_int_range(op, "KH*KW*Cin", KH * KW * C);
  check_int_range(op, "Cout", Cout);
  check_int_range(op, "N*H*W", N * H * W);
  check_arg(KH * KW * C > 0, op, ": empty kernel ", w.describe());
  cuda::GemmArgs a;
  a.x = x.raw();
  a.w = w.raw();
  a.N = (int)N; a.H = (int)H; a.W = (int)W; a.C = (int)C;
  a.KH = (int)KH; a.KW = (int)KW; a.stride = p.stride; a.pad = p.pad;
  a.Ho = (int)Ho; a.Wo = (int)Wo;
  a.K = (int)(KH * KW * C);
  a.Nv = (int)Cout;
  a.ep = make_epilogue(out, Cout, bias, frame_bias, Ho * Wo, residual, Activation::None, p.out_scale, false);
  return a;
}

void CudaBackend::conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* frame_bias,
                         const Tensor* residual, Tensor& out, const Conv2dParams& p) {
  ensure_usable();
  cuda::GemmArgs a = conv_args(*this, "conv2d", x, w, bias, frame_bias, residual, out, p);
  run_gemm(*this, "conv2d", a, (int64_t)a.Ho * a.Wo);
}

// On the Hopper kernel: one statistics pass over x, then the convolution normalises its operand
// tiles as they arrive (the normalised tensor never exists). Elsewhere: group_norm, then conv2d.
void CudaBackend::group_norm_conv2d(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    const GroupNormParams& gn, const Tensor& w, const Tensor* bias,
                                    const Tensor* frame_bias, const Tensor* residual, Tensor& out,
                                    const Conv2dParams& p) {
  const char* op = "group_norm_conv2d";
  ensure_usable();
  cuda::GemmArgs a = conv_args(*this, op, x, w, bias, frame_bias, residual, out, p);
  bool fused = false;
#ifdef INDETAIL_WITH_SM90A
  fused = hopper_kernels() && a.M > 0 && cuda::sm90_gemm_problem(a).empty();
#endif
  if (!fused) return Backend::group_norm_conv2d(x, gamma, beta, gn, w, bias, frame_bias, residual, out, p);
  const int64_t HW = (int64_t)a.H * a.W;
  check_arg(gn.groups > 0 && a.C % gn.groups == 0, op, ": ", gn.groups, " groups do not divide the ", a.C,
            " channels of x ", x.describe());
  check_param(op, "gamma", gamma, a.C);
  check_param(op, "beta", beta, a.C);
  const cuda::GroupNormPlan plan = cuda::plan_group_norm(a.N, HW, a.C, cuda::aligned16(x.raw()), num_sms());
  Tensor stats = scratch_f32(plan.partial_floats + 2LL * a.N * a.C);
  cuda::launch_group_norm_stats(compute_, plan, x.raw(), gamma.data<float>(), beta.data<float>(), a.N, HW, a.C,
                                gn.groups, gn.eps, stats.data<float>(), stream_);
  check_launch(op);
  a.norm_kind = cuda::kNormGroup;
  a.norm = reinterpret_cast<const float2*>(stats.data<float>() + plan.partial_floats);
  a.norm_silu = gn.silu ? 1 : 0;
  run_gemm(*this, op, a, (int64_t)a.Ho * a.Wo);
}

}  // namespace indetail
