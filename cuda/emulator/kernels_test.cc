// Runs the launch functions of cuda/kernels/ under the host emulator (emu.h) on small odd
// shapes and compares with double-precision references computed here from the same 16-bit
// inputs. Build and run with cuda/emulator/run.sh. Prints one line per case; exits 1 on failure.
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
#include "../kernels/timestep_embedding.h"
#include "../kernels/vec.cuh"

using namespace indetail;

namespace {

int g_failures = 0, g_cases = 0;
std::mt19937 g_rng(1234);

template <typename T>
uint16_t to16(float f) {
  T h = T(f);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
template <typename T>
float from16(uint16_t b) {
  T h;
  std::memcpy(&h, &b, 2);
  return (float)h;
}

// 16-bit storage of exactly n elements (so AddressSanitizer sees any read past the end), after
// `offset` spare elements that let tests misalign the pointer on purpose.
template <typename T>
struct Buf16 {
  std::vector<uint16_t> raw;
  int off;
  Buf16(size_t n, int offset = 0) : raw(n + offset, 0xffff), off(offset) {}
  uint16_t* p() { return raw.data() + off; }
  float get(size_t i) const { return from16<T>(raw[off + i]); }
  void set(size_t i, float f) { raw[off + i] = to16<T>(f); }
  size_t n() const { return raw.size() - off; }
};

template <typename T>
Buf16<T> randn16(size_t n, float std = 1.0f, float mean = 0.0f, int offset = 0) {
  std::normal_distribution<float> d(mean, std);
  Buf16<T> b(n, offset);
  for (size_t i = 0; i < n; ++i) b.set(i, d(g_rng));
  return b;
}

std::vector<float> randn32(size_t n, float std = 1.0f, float mean = 0.0f) {
  std::normal_distribution<float> d(mean, std);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g_rng);
  return v;
}

template <typename T>
constexpr const char* tname() {
  return sizeof(T) == 2 && std::is_same<T, __half>::value ? "f16" : "bf16";
}
template <typename T>
DType dtype_of() {
  return std::is_same<T, __half>::value ? DType::F16 : DType::BF16;
}
template <typename T>
double rel_ulp() {
  return std::is_same<T, __half>::value ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7);
}

// |got - want| <= ulps · ulp(|want|) + abs_tol for every element.
template <typename T>
void check(const std::string& name, const Buf16<T>& got, const std::vector<double>& want, double ulps = 1.0,
           double abs_tol = 1e-6) {
  ++g_cases;
  size_t bad = 0, first = 0;
  double worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got.get(i), w = want[i];
    const double tol = ulps * rel_ulp<T>() * std::max(std::fabs(w), 1e-3) + abs_tol;
    const double err = std::fabs(g - w);
    if (!(err <= tol)) {
      if (!bad) first = i;
      ++bad;
    }
    if (!(err <= worst)) {
      worst = std::isnan(err) ? INFINITY : err;
      worst_i = i;
    }
  }
  std::printf("%s %-62s %s n=%zu max err %.3g", bad ? "FAIL" : "ok  ", name.c_str(), tname<T>(), want.size(), worst);
  if (bad) {
    std::printf(" | %zu bad, first %zu got %.6g want %.6g, worst %zu got %.6g want %.6g", bad, first, got.get(first),
                want[first], worst_i, got.get(worst_i), want[worst_i]);
    ++g_failures;
  }
  std::printf("\n");
}

double act_ref(int act, double v) {
  switch (act) {
    case 1: return v / (1 + std::exp(-v));
    case 2: return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case 3: return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    case 4: return v / (1 + std::exp(-1.702 * v));
    default: return v;
  }
}
double gelu_ref(double v) { return act_ref(2, v); }

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
};

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
  const auto plan = cuda::plan_split_k(M, Nv, K, s.num_sms);
  a.splits = plan.splits;
  a.k_tiles_per_split = plan.k_tiles_per_split;
  a.ws_ld = plan.ws_ld;
  std::vector<float> ws(a.splits > 1 ? (size_t)a.splits * M * a.ws_ld : 0, NAN);
  a.workspace = ws.empty() ? nullptr : ws.data();
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
  cuda::launch_implicit_gemm(dtype_of<T>(), a, nullptr);

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
  std::snprintf(label, sizeof label, "%s [M%d N%d K%d splits %d%s%s]", s.name.c_str(), M, Nv, K, a.splits,
                a.vec_a ? "" : " scalarA", a.vec_b ? "" : " scalarB");
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
void bits_case(const std::string& name, const std::vector<uint16_t>& all, const std::vector<uint16_t>& tail,
               size_t frame_elems) {
  ++g_cases;
  size_t differing = 0;
  for (size_t i = 0; i < tail.size(); ++i) differing += all[frame_elems + i] != tail[i];
  std::printf("%s %-62s %zu of %zu values differ\n", differing ? "FAIL" : "ok  ", name.c_str(), differing, tail.size());
  if (differing) ++g_failures;
}

template <typename T>
void batch_invariance_cases() {
  const int H = 6, W = 6, HW = H * W, C = 264, Cout = 136, K = 9 * C, sms = 132;
  auto x = randn16<T>((size_t)3 * HW * C);
  auto w = randn16<T>((size_t)Cout * K, 1.0f / std::sqrt((float)K));
  std::vector<float> bias = randn32(Cout, 0.5f);
  int splits = 1;
  auto conv = [&](int n, const uint16_t* xs) {
    Buf16<T> out((size_t)n * HW * Cout);
    cuda::GemmArgs a;
    a.x = xs;
    a.w = w.p();
    a.N = n; a.H = H; a.W = W; a.C = C;
    a.KH = a.KW = 3; a.stride = 1; a.pad = 1;
    a.Ho = H; a.Wo = W;
    a.M = n * HW; a.Nv = Cout; a.K = K;
    a.vec_a = cuda::aligned16(a.x);
    a.vec_b = 1;
    const auto plan = cuda::plan_split_k_per_frame(HW, Cout, K, sms);
    splits = a.splits = plan.splits;
    a.k_tiles_per_split = plan.k_tiles_per_split;
    a.ws_ld = plan.ws_ld;
    std::vector<float> ws(a.splits > 1 ? (size_t)a.splits * a.M * a.ws_ld : 0, NAN);
    a.workspace = ws.empty() ? nullptr : ws.data();
    a.ep.out = out.p();
    a.ep.bias = bias.data();
    a.ep.rows_per_frame = HW;
    a.ep.n_out = Cout;
    a.ep.vec = cuda::aligned16(out.p());
    cuda::launch_implicit_gemm(dtype_of<T>(), a, nullptr);
    return out.raw;
  };
  const auto conv_all = conv(3, x.p());
  const auto conv_tail = conv(2, x.p() + (size_t)HW * C);
  bits_case("conv 3x3 6x6 264->136: frames 2-3 of 3 == batch of 2 [splits " + std::to_string(splits) + "]",
            conv_all, conv_tail, (size_t)HW * Cout);

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
}

}  // namespace

namespace indetail {
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  throw Error(ErrorKind::Device, std::string("emulated CUDA error in ") + what);
}
}  // namespace indetail
extern "C" cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
extern "C" cudaError_t cudaFuncSetAttribute(const void*, enum cudaFuncAttribute, int) { return cudaSuccess; }

int main(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
  try {
    all_cases<__half>(only);
    all_cases<__nv_bfloat16>(only);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  std::printf("%d/%d emulated kernel cases pass (%lld emulated threads)\n", g_cases - g_failures, g_cases,
              (long long)emu::g_threads_run);
  return g_failures ? 1 : 0;
}
