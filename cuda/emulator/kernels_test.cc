// The sm_80 tile kernels (implicit GEMM, norms, pointwise, data movement) under the host
// emulator on small odd shapes, against double-precision references computed here from the same
// 16-bit inputs, and their batch invariance. Groups: gemm, norm, pointwise, invariance.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../../engine/core/error.h"
#include "../kernels/group_norm.h"
#include "../kernels/guidance_step.h"
#include "../kernels/implicit_gemm.h"
#include "../kernels/layer_norm.h"
#include "../kernels/layout_ops.h"
#include "../kernels/pointwise.h"
#include "../kernels/sm90/gemm_sm90.h"
#include "../kernels/timestep_embedding.h"
#include "../kernels/vec.cuh"
#include "check.h"

using namespace indetail;
using namespace emutest;

namespace {

// ---- implicit GEMM -----------------------------------------------------------------------
struct ConvSpec {
  std::string name;
  int N, H, W, C, Cout, KH, KW, stride, pad;
  bool linear = false;  // x [1,1,M=W,C] as a linear layer
  bool geglu = false;   // Cout = 2F weight rows
  bool bias = true, frame_bias = false, residual = false;
  int act = 0;
  float out_scale = 1.0f;
  int num_sms = 132;
  int x_offset = 0;  // misalign x by this many elements
  int min_splits = 1;
  bool hopper = false;  // the sm_90a kernel (gemm_sm90.cu) instead of the mma.sync one
};

// The split plan and launch of the kernel a spec names, as ops_gemm.cu does it.
template <typename T>
void plan_and_launch(cuda::GemmArgs& a, bool hopper, int num_sms, int64_t rows_per_frame, bool per_frame,
                     std::vector<float>& ws) {
  const cuda::GemmTile tile = hopper ? cuda::kSm90Tile : cuda::kGemmTile;
  const int k_tiles = hopper ? cuda::sm90_k_tiles(a) : 0;
  const auto plan = per_frame ? cuda::plan_split_k_per_frame(rows_per_frame, a.Nv, a.K, num_sms, tile, k_tiles)
                              : cuda::plan_split_k(a.M, a.Nv, a.K, num_sms, tile, k_tiles);
  a.splits = plan.splits;
  a.k_tiles_per_split = plan.k_tiles_per_split;
  a.ws_ld = plan.ws_ld;
  ws.assign(a.splits > 1 ? (size_t)a.splits * a.M * a.ws_ld : 0, NAN);
  a.workspace = ws.empty() ? nullptr : ws.data();
  if (hopper) cuda::launch_gemm_sm90(dtype_of<T>(), a, num_sms, nullptr);
  else cuda::launch_implicit_gemm(dtype_of<T>(), a, nullptr);
}

template <typename T>
void gemm_case(const ConvSpec& s) {
  const int Ho = (s.H + 2 * s.pad - s.KH) / s.stride + 1, Wo = (s.W + 2 * s.pad - s.KW) / s.stride + 1;
  const int M = s.N * Ho * Wo, K = s.KH * s.KW * s.C, Nv = s.Cout;
  const int n_out = s.geglu ? Nv / 2 : Nv;
  auto x = randn16<T>((size_t)s.N * s.H * s.W * s.C, 1.0f, 0.0f, s.x_offset);
  auto w = randn16<T>((size_t)Nv * K, 1.0f / std::sqrt((float)K));
  std::vector<float> bias = randn32(Nv, 0.5f);
  auto fb = randn16<T>((size_t)s.N * n_out, 0.5f);
  auto res = randn16<T>((size_t)M * n_out);
  Buf16<T> out((size_t)M * n_out);

  cuda::GemmArgs a;
  a.x = x.p();
  a.w = w.p();
  a.N = s.N; a.H = s.H; a.W = s.W; a.C = s.C;
  a.KH = s.KH; a.KW = s.KW; a.stride = s.stride; a.pad = s.pad;
  a.Ho = Ho; a.Wo = Wo;
  a.M = M; a.Nv = Nv; a.K = K;
  a.geglu = s.geglu;
  a.vec_a = s.C % 8 == 0 && cuda::aligned16(a.x);
  a.vec_b = K % 8 == 0 && cuda::aligned16(a.w);
  a.ep.out = out.p();
  a.ep.bias = s.bias ? bias.data() : nullptr;
  a.ep.frame_bias = s.frame_bias ? fb.p() : nullptr;
  a.ep.rows_per_frame = Ho * Wo;
  a.ep.residual = s.residual ? res.p() : nullptr;
  a.ep.act = s.act;
  a.ep.out_scale = s.out_scale;
  a.ep.geglu = s.geglu;
  a.ep.n_out = n_out;
  a.ep.vec = n_out % 8 == 0 && cuda::aligned16(out.p()) && (!a.ep.frame_bias || cuda::aligned16(fb.p())) &&
             (!a.ep.residual || cuda::aligned16(res.p()));
  if (s.hopper) {
    const std::string why = cuda::sm90_gemm_problem(a);
    if (!why.empty()) {
      expect(false, "sm90 " + s.name, "the Hopper kernel refused it: " + why);
      return;
    }
  }
  std::vector<float> ws;
  plan_and_launch<T>(a, s.hopper, s.num_sms, 0, false, ws);

  // Reference: exact conv over the rounded inputs, then the epilogue, in double.
  std::vector<double> acc((size_t)M * Nv, 0.0);
  for (int n = 0; n < s.N; ++n)
    for (int oy = 0; oy < Ho; ++oy)
      for (int ox = 0; ox < Wo; ++ox) {
        const int m = (n * Ho + oy) * Wo + ox;
        for (int co = 0; co < Nv; ++co) {
          double sum = 0;
          for (int ky = 0; ky < s.KH; ++ky)
            for (int kx = 0; kx < s.KW; ++kx) {
              const int iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
              if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) continue;
              for (int ci = 0; ci < s.C; ++ci)
                sum += (double)x.get(((size_t)(n * s.H + iy) * s.W + ix) * s.C + ci) *
                       w.get((size_t)co * K + (ky * s.KW + kx) * s.C + ci);
            }
          acc[(size_t)m * Nv + co] = sum + (s.bias ? bias[co] : 0.0);
        }
      }
  std::vector<double> want((size_t)M * n_out);
  for (int m = 0; m < M; ++m)
    for (int c = 0; c < n_out; ++c) {
      double v;
      if (s.geglu) {
        v = acc[(size_t)m * Nv + c] * gelu_ref(acc[(size_t)m * Nv + n_out + c]);
      } else {
        v = acc[(size_t)m * Nv + c];
        if (s.frame_bias) v += fb.get((size_t)(m / (Ho * Wo)) * n_out + c);
        v = act_ref(s.act, v);
      }
      if (s.residual) v += res.get((size_t)m * n_out + c);
      want[(size_t)m * n_out + c] = v * s.out_scale;
    }
  char label[200];
  std::snprintf(label, sizeof label, "%s%s [M%d N%d K%d splits %d%s%s]", s.hopper ? "sm90 " : "", s.name.c_str(), M,
                Nv, K, a.splits, a.vec_a || s.hopper ? "" : " scalarA", a.vec_b || s.hopper ? "" : " scalarB");
  // F32 accumulation over K terms vs double: allow ~K·2^-24 relative on top of the rounding.
  check<T>(label, out, want, 1.0, 1e-5 * std::sqrt((double)K));
  if (a.splits < s.min_splits) {
    std::printf("FAIL %s: expected split-K (>= %d slices), plan gave %d\n", s.name.c_str(), s.min_splits, a.splits);
    ++g_failures;
  }
}

template <typename T>
void gemm_cases() {
  auto lin = [](std::string name, int M, int K, int N) {
    ConvSpec s{name, 1, 1, M, K, N, 1, 1, 1, 0};
    s.linear = true;
    return s;
  };
  ConvSpec s;
  s = lin("linear K40 M130 N136 +bias gelu +res", 130, 40, 136); s.act = 2; s.residual = true; gemm_case<T>(s);
  s = lin("linear K77 M37 N45 +bias silu +res (scalar paths)", 37, 77, 45); s.act = 1; s.residual = true; gemm_case<T>(s);
  s = lin("linear K64 M200 N64 x misaligned (scalar A)", 200, 64, 64); s.x_offset = 1; s.act = 3; gemm_case<T>(s);
  s = lin("linear K1000 M3 N200 quick_gelu split-K", 3, 1000, 200); s.act = 4; s.min_splits = 2; gemm_case<T>(s);
  s = lin("linear K256 M129 N129 no bias split-K", 129, 256, 129); s.bias = false; s.residual = true; s.min_splits = 2; gemm_case<T>(s);
  s = lin("geglu K72 M150 F100", 150, 72, 200); s.geglu = true; gemm_case<T>(s);
  s = lin("geglu K512 M9 F136 split-K", 9, 512, 272); s.geglu = true; s.min_splits = 2; gemm_case<T>(s);
  s = lin("geglu K37 M9 F13 no bias", 9, 37, 26); s.geglu = true; s.bias = false; gemm_case<T>(s);
  s = ConvSpec{"conv 3x3 s2 p1 13x11 24->40 b3", 3, 13, 11, 24, 40, 3, 3, 2, 1}; gemm_case<T>(s);
  s = ConvSpec{"conv 3x3 s1 p0 9x7 36->20 (Cin%8!=0)", 1, 9, 7, 36, 20, 3, 3, 1, 0}; gemm_case<T>(s);
  s = ConvSpec{"conv 3x3 s2 p1 15x17 16->24 +tbias +res x0.7", 2, 15, 17, 16, 24, 3, 3, 2, 1};
  s.frame_bias = true; s.residual = true; s.out_scale = 0.7f; gemm_case<T>(s);
  s = ConvSpec{"conv 1x1 s2 9x9 16->8 no bias", 2, 9, 9, 16, 8, 1, 1, 2, 0}; s.bias = false; gemm_case<T>(s);
  s = ConvSpec{"conv 3x3 s1 p2 5x6 3->130", 2, 5, 6, 3, 130, 3, 3, 1, 2}; gemm_case<T>(s);
  s = ConvSpec{"conv 3x3 s1 p1 6x6 264->136 +res split-K", 1, 6, 6, 264, 136, 3, 3, 1, 1};
  s.residual = true; s.frame_bias = true; s.min_splits = 2; gemm_case<T>(s);
  s = ConvSpec{"conv 3x3 s1 p1 12x12 32->16 +tbias (2 M tiles)", 1, 12, 12, 32, 16, 3, 3, 1, 1};
  s.frame_bias = true; s.num_sms = 0; gemm_case<T>(s);
}

// ---- norms ----------------------------------------------------------------------------------
template <typename T>
void group_norm_case(const char* name, int N, int HW, int C, int G, bool silu, float mean, float std, int sms,
                     int offset = 0) {
  auto x = randn16<T>((size_t)N * HW * C, std, mean, offset);
  auto gamma = randn32(C, 0.1f, 1.0f), beta = randn32(C, 0.1f);
  Buf16<T> out((size_t)N * HW * C, offset);
  const bool vec = cuda::aligned16(x.p()) && cuda::aligned16(out.p());
  auto plan = cuda::plan_group_norm(N, HW, C, vec, sms);
  std::vector<float> ws(plan.partial_floats + 2 * (size_t)N * C, NAN);
  cuda::launch_group_norm(dtype_of<T>(), plan, x.p(), out.p(), gamma.data(), beta.data(), N, HW, C, G, 1e-5f, silu,
                          ws.data(), nullptr);
  std::vector<double> want((size_t)N * HW * C);
  const int cpg = C / G;
  for (int n = 0; n < N; ++n)
    for (int g = 0; g < G; ++g) {
      double s1 = 0, s2 = 0;
      const double cnt = (double)HW * cpg;
      for (int p = 0; p < HW; ++p)
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) s1 += x.get(((size_t)n * HW + p) * C + c);
      const double mu = s1 / cnt;
      for (int p = 0; p < HW; ++p)
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
          const double d = x.get(((size_t)n * HW + p) * C + c) - mu;
          s2 += d * d;
        }
      const double rstd = 1.0 / std::sqrt(s2 / cnt + 1e-5);
      for (int p = 0; p < HW; ++p)
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
          const size_t i = ((size_t)n * HW + p) * C + c;
          double y = (x.get(i) - mu) * rstd * gamma[c] + beta[c];
          want[i] = silu ? act_ref(1, y) : y;
        }
    }
  char label[200];
  std::snprintf(label, sizeof label, "group_norm %s [vw %d cvb %d zs %d chunks %d x %d rows]", name, plan.vw,
                plan.cvb, plan.zs, plan.chunks, plan.rows_per_chunk);
  // Statistics in F32 from rounded inputs: a few ulps of the output plus F32 noise.
  check<T>(label, out, want, 2.0, 1e-4 * (1 + std::fabs(mean) / std));
}

template <typename T>
void layer_norm_case(const char* name, int rows, int C, float mean, float std, int offset = 0) {
  auto x = randn16<T>((size_t)rows * C, std, mean, offset);
  auto gamma = randn32(C, 0.1f, 1.0f), beta = randn32(C, 0.1f);
  Buf16<T> out((size_t)rows * C, offset);
  cuda::launch_layer_norm(dtype_of<T>(), x.p(), out.p(), gamma.data(), beta.data(), rows, C, 1e-5f, nullptr);
  std::vector<double> want((size_t)rows * C);
  for (int r = 0; r < rows; ++r) {
    double s1 = 0, s2 = 0;
    for (int c = 0; c < C; ++c) s1 += x.get((size_t)r * C + c);
    const double mu = s1 / C;
    for (int c = 0; c < C; ++c) s2 += std::pow(x.get((size_t)r * C + c) - mu, 2);
    const double rstd = 1 / std::sqrt(s2 / C + 1e-5);
    for (int c = 0; c < C; ++c) want[(size_t)r * C + c] = (x.get((size_t)r * C + c) - mu) * rstd * gamma[c] + beta[c];
  }
  check<T>(std::string("layer_norm ") + name, out, want, 2.0, 1e-4 * (1 + std::fabs(mean) / std));
}

// ---- pointwise and data movement -------------------------------------------------------------
template <typename T>
void pointwise_cases() {
  for (int act = 0; act <= 4; ++act)
    for (int n : {1001, 1024}) {
      auto x = randn16<T>(n, 3.0f);
      Buf16<T> out(n);
      cuda::launch_activation(dtype_of<T>(), x.p(), out.p(), n, act, nullptr);
      std::vector<double> want(n);
      for (int i = 0; i < n; ++i) want[i] = act_ref(act, x.get(i));
      check<T>("activation " + std::to_string(act) + " n=" + std::to_string(n), out, want, 1.0, 1e-6);
    }
  for (int n : {1003, 4096}) {
    auto a = randn16<T>(n), b = randn16<T>(n);
    Buf16<T> out(n);
    cuda::launch_add(dtype_of<T>(), a.p(), b.p(), out.p(), n, -0.5f, nullptr);
    std::vector<double> want(n);
    for (int i = 0; i < n; ++i) want[i] = a.get(i) - 0.5 * b.get(i);
    check<T>("add alpha -0.5 n=" + std::to_string(n), out, want);
  }
  for (int fe : {105, 64}) {
    const int frames = 35;
    auto x = randn16<T>((size_t)frames * fe);
    Buf16<T> out((size_t)frames * fe);
    std::vector<float> sc(frames);
    for (int f = 0; f < frames; ++f) sc[f] = (f % 3) - 0.5f;
    cuda::launch_scale_frames(dtype_of<T>(), x.p(), out.p(), fe, sc, nullptr);
    std::vector<double> want((size_t)frames * fe);
    for (size_t i = 0; i < want.size(); ++i) want[i] = x.get(i) * sc[i / fe];
    check<T>("scale_frames 35 frames x " + std::to_string(fe), out, want);
  }
  for (int F : {13, 24}) {
    const int rows = 21;
    auto x = randn16<T>((size_t)rows * 2 * F);
    Buf16<T> out((size_t)rows * F);
    cuda::launch_geglu(dtype_of<T>(), x.p(), out.p(), rows, F, nullptr);
    std::vector<double> want((size_t)rows * F);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < F; ++c)
        want[(size_t)r * F + c] = x.get((size_t)r * 2 * F + c) * gelu_ref(x.get((size_t)r * 2 * F + F + c));
    check<T>("geglu F=" + std::to_string(F), out, want);
  }
  for (auto [ca, cb] : {std::pair<int, int>{6, 10}, {16, 8}}) {
    const int rows = 30;
    auto a = randn16<T>((size_t)rows * ca), b = randn16<T>((size_t)rows * cb);
    Buf16<T> out((size_t)rows * (ca + cb));
    cuda::launch_concat_channels(dtype_of<T>(), a.p(), b.p(), out.p(), rows, ca, cb, nullptr);
    std::vector<double> want((size_t)rows * (ca + cb));
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < ca + cb; ++c)
        want[(size_t)r * (ca + cb) + c] = c < ca ? a.get((size_t)r * ca + c) : b.get((size_t)r * cb + c - ca);
    check<T>("concat " + std::to_string(ca) + "+" + std::to_string(cb), out, want, 0.0, 0.0);
  }
  struct Up { int N, H, W, C, Ho, Wo; };
  for (Up u : {Up{2, 5, 7, 3, 11, 9}, Up{1, 6, 6, 16, 4, 5}, Up{2, 3, 3, 8, 6, 6}}) {
    auto x = randn16<T>((size_t)u.N * u.H * u.W * u.C);
    Buf16<T> out((size_t)u.N * u.Ho * u.Wo * u.C);
    cuda::launch_upsample_nearest(dtype_of<T>(), x.p(), out.p(), u.N, u.H, u.W, u.Ho, u.Wo, u.C, nullptr);
    std::vector<double> want(out.n());
    for (int n = 0; n < u.N; ++n)
      for (int oy = 0; oy < u.Ho; ++oy)
        for (int ox = 0; ox < u.Wo; ++ox)
          for (int c = 0; c < u.C; ++c) {
            const int sy = (int)std::floor((double)oy * u.H / u.Ho), sx = (int)std::floor((double)ox * u.W / u.Wo);
            want[(((size_t)n * u.Ho + oy) * u.Wo + ox) * u.C + c] = x.get((((size_t)n * u.H + sy) * u.W + sx) * u.C + c);
          }
    char label[100];
    std::snprintf(label, sizeof label, "upsample %dx%d->%dx%d C%d", u.H, u.W, u.Ho, u.Wo, u.C);
    check<T>(label, out, want, 0.0, 0.0);
  }
  for (int C : {12, 32}) {
    const int V = 50, tokens = 15;
    auto table = randn16<T>((size_t)V * C);
    std::vector<int32_t> ids(tokens);
    for (int i = 0; i < tokens; ++i) ids[i] = (i * 17 + 3) % V;
    ids[0] = 0;
    ids[tokens - 1] = V - 1;
    Buf16<T> out((size_t)tokens * C);
    cuda::launch_embedding(dtype_of<T>(), ids.data(), table.p(), out.p(), tokens, C, nullptr);
    std::vector<double> want((size_t)tokens * C);
    for (int t = 0; t < tokens; ++t)
      for (int c = 0; c < C; ++c) want[(size_t)t * C + c] = table.get((size_t)ids[t] * C + c);
    check<T>("embedding C=" + std::to_string(C), out, want, 0.0, 0.0);
  }
  {
    const std::vector<float> t = {981, 1, 0, 999.5f};
    for (auto [dim, flip, shift, scale, mp] :
         {std::tuple<int, bool, float, float, float>{320, true, 0.0f, 1.0f, 10000.0f}, {33, false, 1.0f, 2.0f, 1000.0f}}) {
      Buf16<T> out(t.size() * dim);
      cuda::launch_timestep_embedding(DType::F32, t.data(), dtype_of<T>(), out.p(), (int64_t)t.size(), dim, flip, shift,
                                      mp, scale, nullptr);
      std::vector<double> want(out.n());
      const int half = dim / 2;
      for (size_t n = 0; n < t.size(); ++n)
        for (int j = 0; j < dim; ++j) {
          double v = 0;
          if (j < 2 * half) {
            const int i = j % half;
            const double arg = scale * t[n] * std::exp(-std::log((double)mp) * i / (half - shift));
            const bool first = j < half;
            v = (flip ? first : !first) ? std::cos(arg) : std::sin(arg);
          }
          want[n * dim + j] = v;
        }
      check<T>("timestep_embedding dim " + std::to_string(dim), out, want, 1.0, 2e-4);
    }
  }
  for (int E : {105, 64 * 4}) {
    const int R = 5, F = 3;
    auto eps = randn16<T>((size_t)R * E), x = randn16<T>((size_t)F * E), reset = randn16<T>(E);
    Buf16<T> out((size_t)F * E);
    for (bool vpred : {false, true}) {
      cuda::GuidanceStepArgs g;
      g.eps = eps.p(); g.x = x.p(); g.reset = reset.p(); g.out = out.p();
      g.frame_elems = E; g.frames = F; g.guidance_scale = 7.5f;
      const double af = 0.0465, at = 0.0718;
      g.sqrt_a_from = std::sqrt(af); g.sqrt_1m_a_from = std::sqrt(1 - af);
      g.sqrt_a_to = std::sqrt(at); g.sqrt_1m_a_to = std::sqrt(1 - at);
      g.v_prediction = vpred;
      g.uncond_row = {-1, 0, 1};
      g.cond_row = {2, -1, 4};
      g.reset_frame = vpred ? -1 : 0;
      cuda::launch_guidance_step(dtype_of<T>(), g, nullptr);
      std::vector<double> want((size_t)F * E);
      for (int f = 0; f < F; ++f)
        for (int i = 0; i < E; ++i) {
          const int u = g.uncond_row[f], c = g.cond_row[f];
          double e = c < 0 ? eps.get((size_t)u * E + i)
                     : u < 0 ? eps.get((size_t)c * E + i)
                             : eps.get((size_t)u * E + i) + 7.5 * (eps.get((size_t)c * E + i) - eps.get((size_t)u * E + i));
          const double xv = x.get((size_t)f * E + i);
          const double x0 = vpred ? std::sqrt(af) * xv - std::sqrt(1 - af) * e : (xv - std::sqrt(1 - af) * e) / std::sqrt(af);
          if (vpred) e = std::sqrt(af) * e + std::sqrt(1 - af) * xv;
          want[(size_t)f * E + i] = f == g.reset_frame ? reset.get(i) : std::sqrt(at) * x0 + std::sqrt(1 - at) * e;
        }
      check<T>(std::string("guidance_step E=") + std::to_string(E) + (vpred ? " v-pred" : " reset"), out, want, 1.0, 5e-3);
    }
  }
}

// ---- batch invariance -------------------------------------------------------------------------
// The image-prompt cache drops a frame from the batch; the frames left must keep every bit. Runs
// a 3x3 conv (split-K, frames straddling M tiles) and a GroupNorm over 3 frames and over the
// last 2 of them, with the plans the backend uses, and compares the shared frames bit for bit.
// GemmArgs of a 3x3 stride-1 convolution of N frames with bias into out (vectorised stores when aligned).
cuda::GemmArgs conv3x3_args(const void* x, const void* w, const float* bias, void* out, int N, int H, int W, int C,
                            int Cout, int pad) {
  cuda::GemmArgs a;
  a.x = x;
  a.w = w;
  a.N = N; a.H = H; a.W = W; a.C = C;
  a.KH = a.KW = 3; a.stride = 1; a.pad = pad;
  a.Ho = H + 2 * pad - 2; a.Wo = W + 2 * pad - 2;
  a.M = N * a.Ho * a.Wo; a.Nv = Cout; a.K = 9 * C;
  a.vec_a = cuda::aligned16(x);
  a.vec_b = 1;
  a.ep.out = out;
  a.ep.bias = bias;
  a.ep.rows_per_frame = a.Ho * a.Wo;
  a.ep.n_out = Cout;
  a.ep.vec = Cout % 8 == 0 && cuda::aligned16(out);
  return a;
}

// GemmArgs of a linear layer (GEGLU: N = 2F weight rows) over M rows with bias into out.
cuda::GemmArgs linear_args(const void* x, const void* w, const float* bias, void* out, int M, int K, int N, bool geglu) {
  cuda::GemmArgs a;
  a.x = x;
  a.w = w;
  a.N = 1; a.H = 1; a.W = M; a.C = K;
  a.Ho = 1; a.Wo = M;
  a.M = M; a.Nv = N; a.K = K;
  a.geglu = geglu;
  a.vec_a = a.vec_b = 1;
  a.ep.out = out;
  a.ep.bias = bias;
  a.ep.n_out = geglu ? N / 2 : N;
  a.ep.geglu = geglu;
  a.ep.vec = a.ep.n_out % 8 == 0;
  return a;
}

// run(frames, x) over 3 frames of x and over its last 2; the shared frames must keep their bits.
// `splits` is what the last run planned (for the label).
template <typename Run>
void frames_invariance(bool hopper, const std::string& name, const Run& run, const uint16_t* x, size_t frame_in,
                       size_t frame_out, const int& splits) {
  const auto all = run(3, x);
  const auto tail = run(2, x + frame_in);
  bits_case(std::string(hopper ? "sm90 " : "") + name + ": frames 2-3 of 3 == batch of 2 [splits " +
                std::to_string(splits) + "]",
            all, tail, frame_out);
}

// A 3x3 stride-1 convolution over frames 2-3 of 3 and over a batch of those 2, with the per-frame
// split plan of the backend (ops_gemm.cu), compared bit for bit.
template <typename T>
void conv_invariance_case(const std::string& name, int H, int W, int C, int Cout, bool hopper, int sms) {
  const int HW = H * W, K = 9 * C;
  auto x = randn16<T>((size_t)3 * HW * C);
  auto w = randn16<T>((size_t)Cout * K, 1.0f / std::sqrt((float)K));
  std::vector<float> bias = randn32(Cout, 0.5f);
  int splits = 1;
  auto conv = [&](int n, const uint16_t* xs) {
    Buf16<T> out((size_t)n * HW * Cout);
    cuda::GemmArgs a = conv3x3_args(xs, w.p(), bias.data(), out.p(), n, H, W, C, Cout, 1);
    std::vector<float> ws;
    plan_and_launch<T>(a, hopper, sms, HW, true, ws);
    splits = a.splits;
    return out.raw;
  };
  frames_invariance(hopper, name, conv, x.p(), (size_t)HW * C, (size_t)HW * Cout, splits);
}

// A linear layer over rows of 3 frames and of the last 2 (split-K planned per frame), bit for bit.
template <typename T>
void linear_invariance_case(const std::string& name, int rows, int K, int N, bool geglu, bool hopper, int sms) {
  auto x = randn16<T>((size_t)3 * rows * K);
  auto w = randn16<T>((size_t)N * K, 1.0f / std::sqrt((float)K));
  std::vector<float> bias = randn32(N, 0.5f);
  const int n_out = geglu ? N / 2 : N;
  int splits = 1;
  auto run = [&](int frames, const uint16_t* xs) {
    Buf16<T> out((size_t)frames * rows * n_out);
    cuda::GemmArgs a = linear_args(xs, w.p(), bias.data(), out.p(), frames * rows, K, N, geglu);
    std::vector<float> ws;
    plan_and_launch<T>(a, hopper, sms, rows, true, ws);
    splits = a.splits;
    return out.raw;
  };
  frames_invariance(hopper, name, run, x.p(), (size_t)rows * K, (size_t)rows * n_out, splits);
}

template <typename T>
void batch_invariance_cases() {
  conv_invariance_case<T>("conv 3x3 6x6 264->136", 6, 6, 264, 136, false, 132);

  const int gHW = 400, gC = 48, G = 8;
  auto gx = randn16<T>((size_t)3 * gHW * gC, 2.0f, 1.0f);
  auto gamma = randn32(gC, 0.1f, 1.0f), beta = randn32(gC, 0.1f);
  auto norm = [&](int n, const uint16_t* xs) {
    Buf16<T> out((size_t)n * gHW * gC);
    auto plan = cuda::plan_group_norm(n, gHW, gC, true, 16);
    std::vector<float> ws(plan.partial_floats + 2 * (size_t)n * gC, NAN);
    cuda::launch_group_norm(dtype_of<T>(), plan, xs, out.p(), gamma.data(), beta.data(), n, gHW, gC, G, 1e-5f, true,
                            ws.data(), nullptr);
    return out.raw;
  };
  bits_case("group_norm 20x20 C48: frames 2-3 of 3 == batch of 2", norm(3, gx.p()), norm(2, gx.p() + (size_t)gHW * gC),
            (size_t)gHW * gC);
}

// ---- GroupNorm fused into the Hopper convolution (group_norm_conv2d) --------------------------
// The statistics pass, then the convolution normalising its operand tiles in shared memory: it
// must give the bits of group_norm (kernel) then the same convolution on the stored result, be
// close to a double reference (normalise, SiLU, zero padding of the normalised tensor, convolve),
// and keep a frame's bits whatever the batch.
template <typename T>
std::vector<uint16_t> gn_conv_run(const Buf16<T>& x, const Buf16<T>& w, const std::vector<float>& bias,
                                  const std::vector<float>& gamma, const std::vector<float>& beta, int N, int H, int W,
                                  int C, int Cout, int groups, bool silu, int pad, bool fused, const uint16_t* x_at) {
  const int Ho = H + 2 * pad - 2, Wo = W + 2 * pad - 2, HW = H * W;
  auto plan = cuda::plan_group_norm(N, HW, C, true, 132);
  std::vector<float> ws(plan.partial_floats + 2 * (size_t)N * C, NAN);
  Buf16<T> normed((size_t)N * HW * C);
  const void* xin = x_at;
  if (fused) {
    cuda::launch_group_norm_stats(dtype_of<T>(), plan, x_at, gamma.data(), beta.data(), N, HW, C, groups, 1e-5f,
                                  ws.data(), nullptr);
  } else {
    cuda::launch_group_norm(dtype_of<T>(), plan, x_at, normed.p(), gamma.data(), beta.data(), N, HW, C, groups, 1e-5f,
                            silu, ws.data(), nullptr);
    xin = normed.p();
  }
  Buf16<T> out((size_t)N * Ho * Wo * Cout);
  cuda::GemmArgs a = conv3x3_args(xin, w.p(), bias.data(), out.p(), N, H, W, C, Cout, pad);
  if (fused) {
    a.norm_kind = cuda::kNormGroup;
    a.norm = reinterpret_cast<const float2*>(ws.data() + plan.partial_floats);
    a.norm_silu = silu;
  }
  std::vector<float> split_ws;
  plan_and_launch<T>(a, true, 4, Ho * Wo, true, split_ws);
  return out.raw;
}

template <typename T>
void gn_conv_case(const std::string& name, int N, int H, int W, int C, int Cout, int groups, bool silu, int pad) {
  const int Ho = H + 2 * pad - 2, Wo = W + 2 * pad - 2, HW = H * W, K = 9 * C;
  auto x = randn16<T>((size_t)N * HW * C, 2.0f, 0.5f);
  auto w = randn16<T>((size_t)Cout * K, 1.0f / std::sqrt((float)K));
  std::vector<float> bias = randn32(Cout, 0.5f), gamma = randn32(C, 0.1f, 1.0f), beta = randn32(C, 0.1f);
  const auto fused = gn_conv_run<T>(x, w, bias, gamma, beta, N, H, W, C, Cout, groups, silu, pad, true, x.p());
  const auto composed = gn_conv_run<T>(x, w, bias, gamma, beta, N, H, W, C, Cout, groups, silu, pad, false, x.p());
  bits_case("sm90 group_norm_conv2d " + name + ": == group_norm then conv2d", composed, fused, 0);
  // Double reference: statistics from the rounded x, the normalised tensor zero-padded.
  const int cpg = C / groups;
  std::vector<double> xn((size_t)N * HW * C);
  for (int n = 0; n < N; ++n)
    for (int g = 0; g < groups; ++g) {
      double s1 = 0, s2 = 0;
      for (int p = 0; p < HW; ++p)
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) s1 += x.get(((size_t)n * HW + p) * C + c);
      const double mu = s1 / ((double)HW * cpg);
      for (int p = 0; p < HW; ++p)
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) s2 += std::pow(x.get(((size_t)n * HW + p) * C + c) - mu, 2);
      const double rstd = 1 / std::sqrt(s2 / ((double)HW * cpg) + 1e-5);
      for (int p = 0; p < HW; ++p)
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
          const size_t i = ((size_t)n * HW + p) * C + c;
          const double y = (x.get(i) - mu) * rstd * gamma[c] + beta[c];
          xn[i] = silu ? act_ref(1, y) : y;
        }
    }
  std::vector<double> want((size_t)N * Ho * Wo * Cout);
  for (int n = 0; n < N; ++n)
    for (int oy = 0; oy < Ho; ++oy)
      for (int ox = 0; ox < Wo; ++ox)
        for (int co = 0; co < Cout; ++co) {
          double sum = bias[co];
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
              const int iy = oy - pad + ky, ix = ox - pad + kx;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              for (int ci = 0; ci < C; ++ci)
                sum += xn[((size_t)(n * H + iy) * W + ix) * C + ci] * w.get((size_t)co * K + (ky * 3 + kx) * C + ci);
            }
          want[((size_t)(n * Ho + oy) * Wo + ox) * Cout + co] = sum;
        }
  Buf16<T> got(want.size());
  got.raw = fused;
  // The normalised operand is rounded to 16 bits before the convolution: K such roundings.
  check<T>("sm90 group_norm_conv2d " + name + " vs double", got, want, 2.0, 4 * rel_ulp<T>() * std::sqrt((double)K));
  // Batch invariance: the last two frames alone.
  if (N == 3) {
    const auto tail = gn_conv_run<T>(x, w, bias, gamma, beta, 2, H, W, C, Cout, groups, silu, pad, true,
                                     x.p() + (size_t)HW * C);
    bits_case("sm90 group_norm_conv2d " + name + ": frames 2-3 of 3 == batch of 2", fused, tail,
              (size_t)Ho * Wo * Cout);
  }
}

// ---- LayerNorm fused into the Hopper linear (layer_norm_linear, layer_norm_linear_geglu) --------
// The row statistics pass, then the GEMM normalising its operand tiles: the bits of layer_norm
// (kernel) then the same GEMM, close to a double reference, and batch-invariant.
template <typename T>
std::vector<uint16_t> ln_linear_run(const uint16_t* x, const Buf16<T>& w, const std::vector<float>& bias,
                                    const std::vector<float>& gamma, const std::vector<float>& beta, int M, int K, int N,
                                    bool geglu, int rows_per_frame, bool fused) {
  const int n_out = geglu ? N / 2 : N;
  std::vector<float> stats(2 * (size_t)M, NAN);
  Buf16<T> normed((size_t)M * K);
  const void* xin = x;
  if (fused) {
    cuda::launch_layer_norm_stats(dtype_of<T>(), x, reinterpret_cast<float2*>(stats.data()), M, K, 1e-5f, nullptr);
  } else {
    cuda::launch_layer_norm(dtype_of<T>(), x, normed.p(), gamma.data(), beta.data(), M, K, 1e-5f, nullptr);
    xin = normed.p();
  }
  Buf16<T> out((size_t)M * n_out);
  cuda::GemmArgs a = linear_args(xin, w.p(), bias.data(), out.p(), M, K, N, geglu);
  if (fused) {
    a.norm_kind = cuda::kNormLayer;
    a.norm = reinterpret_cast<const float2*>(stats.data());
    a.norm_gamma = gamma.data();
    a.norm_beta = beta.data();
  }
  std::vector<float> ws;
  plan_and_launch<T>(a, true, 132, rows_per_frame, true, ws);
  return out.raw;
}

template <typename T>
void ln_linear_case(const std::string& name, int rows, int K, int N, bool geglu) {
  const int M = 3 * rows, n_out = geglu ? N / 2 : N;
  auto x = randn16<T>((size_t)M * K, 2.0f, 1.0f);
  auto w = randn16<T>((size_t)N * K, 1.0f / std::sqrt((float)K));
  std::vector<float> bias = randn32(N, 0.5f), gamma = randn32(K, 0.1f, 1.0f), beta = randn32(K, 0.1f);
  const auto fused = ln_linear_run<T>(x.p(), w, bias, gamma, beta, M, K, N, geglu, rows, true);
  const auto composed = ln_linear_run<T>(x.p(), w, bias, gamma, beta, M, K, N, geglu, rows, false);
  bits_case("sm90 layer_norm_linear " + name + ": == layer_norm then linear", composed, fused, 0);
  std::vector<double> want((size_t)M * n_out);
  std::vector<double> xn(K), acc(N);
  for (int m = 0; m < M; ++m) {
    double s1 = 0, s2 = 0;
    for (int k = 0; k < K; ++k) s1 += x.get((size_t)m * K + k);
    const double mu = s1 / K;
    for (int k = 0; k < K; ++k) s2 += std::pow(x.get((size_t)m * K + k) - mu, 2);
    const double rstd = 1 / std::sqrt(s2 / K + 1e-5);
    for (int k = 0; k < K; ++k) xn[k] = (x.get((size_t)m * K + k) - mu) * rstd * gamma[k] + beta[k];
    for (int v = 0; v < N; ++v) {
      double sum = bias[v];
      for (int k = 0; k < K; ++k) sum += xn[k] * w.get((size_t)v * K + k);
      acc[v] = sum;
    }
    for (int c = 0; c < n_out; ++c)
      want[(size_t)m * n_out + c] = geglu ? acc[c] * gelu_ref(acc[n_out + c]) : acc[c];
  }
  Buf16<T> got(want.size());
  got.raw = fused;
  check<T>("sm90 layer_norm_linear " + name + " vs double", got, want, 2.0, 4 * rel_ulp<T>() * std::sqrt((double)K));
  const auto tail = ln_linear_run<T>(x.p() + (size_t)rows * K, w, bias, gamma, beta, 2 * rows, K, N, geglu, rows, true);
  bits_case("sm90 layer_norm_linear " + name + ": frames 2-3 of 3 == batch of 2", fused, tail, (size_t)rows * n_out);
}

// ---- the Hopper GEMM (sm90/gemm_sm90.cu) ---------------------------------------------------------
// SD layer shapes scaled down (a 64x64 latent becomes 16x16; channels as in SD1.5), the tile
// shapes it derives from the output width, K tails, partial N tiles, GEGLU, split-K, persistent
// CTAs (few SMs), copies landing at the wait and at issue, what it refuses, and batch invariance.
template <typename T>
void sm90_gemm_cases() {
  auto lin = [](std::string name, int M, int K, int N) {
    ConvSpec s{name, 1, 1, M, K, N, 1, 1, 1, 0};
    s.linear = true;
    s.hopper = true;
    s.num_sms = 4;
    return s;
  };
  auto conv = [](std::string name, int N, int H, int W, int C, int Cout, int k, int pad) {
    ConvSpec s{name, N, H, W, C, Cout, k, k, 1, pad};
    s.hopper = true;
    s.num_sms = 4;
    return s;
  };
  ConvSpec s;
  s = conv("conv 3x3 p1 16x16 320->320 +tbias +res x0.7 (SD res block)", 2, 16, 16, 320, 320, 3, 1);
  s.frame_bias = s.residual = true; s.out_scale = 0.7f; gemm_case<T>(s);
  if (std::is_same<T, __half>::value) {
    emu::g_eager_copies = true;
    s.name += " copies at issue"; gemm_case<T>(s);
    emu::g_eager_copies = false;
  }
  s = conv("conv 3x3 p1 8x8 64->160 silu-free (2 frames per M tile)", 3, 8, 8, 64, 160, 3, 1); gemm_case<T>(s);
  s = conv("conv 1x1 16x16 96->136 no bias (C%64, partial N tile)", 1, 16, 16, 96, 136, 1, 0); s.bias = false;
  gemm_case<T>(s);
  s = conv("conv 3x3 p1 3x200 16->24 +res (rows wider than a tile)", 1, 3, 200, 16, 24, 3, 1); s.residual = true;
  gemm_case<T>(s);
  s = conv("conv 3x3 p0 10x6 32->40 (4 frames of 8x4 per M tile)", 5, 10, 6, 32, 40, 3, 0); gemm_case<T>(s);
  s = lin("linear M300 K320 N320 +bias gelu +res", 300, 320, 320); s.act = 2; s.residual = true; gemm_case<T>(s);
  s = lin("linear M77 K768 N320 split-K (cross-attention K/V)", 77, 768, 320); s.num_sms = 132; s.min_splits = 2;
  gemm_case<T>(s);
  s = lin("geglu M200 K320 F1280 (SD feed-forward)", 200, 320, 2560); s.geglu = true; gemm_case<T>(s);
  s = lin("geglu M9 K512 F100 split-K (partial GEGLU tile)", 9, 512, 200); s.geglu = true; s.num_sms = 132;
  s.min_splits = 2; gemm_case<T>(s);
  s = lin("linear M3 K1000 N200 quick_gelu split-K (K%64 != 0)", 3, 1000, 200); s.act = 4; s.num_sms = 132;
  s.min_splits = 2; gemm_case<T>(s);

  // What it leaves to the mma.sync kernel: the reason is stated, and depends on the layer only.
  cuda::GemmArgs r;
  r.N = 2; r.H = r.W = 16; r.C = 64; r.KH = r.KW = 3; r.pad = 1; r.Ho = r.Wo = 16; r.Nv = 64; r.K = 9 * 64;
  alignas(16) static uint16_t dummy[8];
  r.x = r.w = dummy;
  r.stride = 2;
  const std::string why_stride = cuda::sm90_gemm_problem(r);
  r.stride = 1; r.C = 4; r.K = 36;
  const std::string why_c = cuda::sm90_gemm_problem(r);
  r.C = 64; r.K = 9 * 64; r.Wo = r.W = 10;
  const std::string why_w = cuda::sm90_gemm_problem(r);
  r.Wo = r.W = 16;
  const std::string ok = cuda::sm90_gemm_problem(r);
  expect(why_stride.find("stride") != std::string::npos && why_c.find("channels") != std::string::npos &&
             why_w.find("width") != std::string::npos && ok.empty(),
         std::string("sm90 refuses stride 2, 4 input channels and width 10 with a reason, takes 16x16 ") + tname<T>(),
         why_stride + "; " + why_c + "; " + why_w + "; " + ok);

  ln_linear_case<T>("3x60 rows K320 N320 (attn2 query)", 60, 320, 320, false);
  ln_linear_case<T>("3x24 rows K320 F320 GEGLU (feed-forward)", 24, 320, 640, true);
  ln_linear_case<T>("3x7 rows K72 N40 (K tail, split-K)", 7, 72, 40, false);
  gn_conv_case<T>("16x16 320->320 g32 silu (SD res block)", 2, 16, 16, 320, 320, 32, true, 1);
  gn_conv_case<T>("8x8 64->40 g8 silu b3 (frames straddle tiles)", 3, 8, 8, 64, 40, 8, true, 1);
  gn_conv_case<T>("10x6 p0 32->24 g4 (no padding taps)", 2, 10, 6, 32, 24, 4, false, 0);

  conv_invariance_case<T>("conv 3x3 8x8 128->160 (frames straddle tiles, split-K)", 8, 8, 128, 160, true, 132);
  conv_invariance_case<T>("conv 3x3 16x16 64->320", 16, 16, 64, 320, true, 4);
  linear_invariance_case<T>("linear 40 rows K320 N320", 40, 320, 320, false, true, 132);
  linear_invariance_case<T>("geglu 24 rows K320 F160", 24, 320, 320, true, true, 4);
}

template <typename T>
void all_cases(const std::string& only) {
  auto want = [&](const char* group) { return only.empty() || only == group; };
  if (want("gemm")) gemm_cases<T>();
  if (want("norm")) {
    group_norm_case<T>("5x7 C12 G4", 2, 35, 12, 4, false, 0, 1, 132);
    group_norm_case<T>("3x3 C40 G8 silu", 2, 9, 40, 8, true, 0, 1, 132);
    group_norm_case<T>("9x9 C16 G2 mean 50", 1, 81, 16, 2, false, 50, 0.5f, 132);
    group_norm_case<T>("1x1 C64 G32", 2, 1, 64, 32, false, 0, 1, 132);
    group_norm_case<T>("20x20 C48 G8 silu chunks", 2, 400, 48, 8, true, 3, 2, 16);
    group_norm_case<T>("6x6 C520 G8 (2 slices)", 1, 36, 520, 8, false, 0, 1, 4);
    group_norm_case<T>("4x4 C16 G4 misaligned (scalar)", 2, 16, 16, 4, true, 0, 1, 8, 1);
    layer_norm_case<T>("3x5 C100 (uncached)", 15, 100, 0, 1);
    layer_norm_case<T>("13 C24 mean 30", 13, 24, 30, 0.3f);
    layer_norm_case<T>("9 C320", 9, 320, 0, 1);
    layer_norm_case<T>("2 C3000 (wide)", 2, 3000, 0, 1);
    layer_norm_case<T>("3 C2048", 3, 2048, 1, 2);
    layer_norm_case<T>("5 C64 misaligned", 5, 64, 0, 1, 3);
  }
  if (want("pointwise")) pointwise_cases<T>();
  if (want("invariance")) batch_invariance_cases<T>();
  if (want("sm90-gemm")) sm90_gemm_cases<T>();
}

}  // namespace

void run_kernel_cases(const std::string& only) {
  all_cases<__half>(only);
  all_cases<__nv_bfloat16>(only);
}
