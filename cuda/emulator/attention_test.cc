// The attention kernels (flash, simple, and the benchmark's naive path) under the emulator against
// a float64 reference of the policy semantics, over head-dim groups, variants, modes, reference
// layouts, causal masks, caches, column windows and ragged lengths, with copies landing at the
// wait and at issue. The flash and simple kernels run through their real launchers; the GPU
// parity tests (test/cuda/attention-parity.test.mjs) remain the proof on a device.
// Group "attention"; a second argument runs only the cases whose name contains it.
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>

#include "../kernels/attention.cuh"
#include "../kernels/attention_naive_kernels.cuh"
#include "../kernels/sm90/attention_sm90.h"
#include "check.h"

using namespace indetail::cuda;
using indetail::DType;

namespace {
enum CopyMode { kCopyAtWait, kCopyAtIssue };
}

namespace {

struct Case {
  std::string name;
  int frames = 2, heads = 2, D = 64, Lq = 70, Lk = 77, Lr = 0;  // Lr > 0: separate cache of R frames
  int R = 0;
  int mode = kAttnNone;
  std::vector<int> ref;  // empty = none
  int causal = 0;
  float lr = 1.f, ls = 1.f;
  int qcol = 0, kcol = 0, vcol = 0, extra = 0;  // column windows: rows are H*D + extra wide
  bool bf16 = false;
  int kernel = 0;   // 0 flash, 1 simple, 2 naive (the benchmark's materialised path), 3 Hopper (sm90)
  int variant = 0;
};

template <typename T>
float tof(T v);
template <>
float tof<__half>(__half v) { return __half2float(v); }
template <>
float tof<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T>
T fromf(float v);
template <>
__half fromf<__half>(float v) { return __float2half_rn(v); }
template <>
__nv_bfloat16 fromf<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

struct Mat {  // [F, L, W] host tensor
  int F, L, W;
  std::vector<float> f;  // rounded values as float
};

template <typename T>
std::vector<T> make(Mat& m, std::mt19937& rng, float sd) {
  std::normal_distribution<float> nd(0.f, sd);
  std::vector<T> out((size_t)m.F * m.L * m.W);
  m.f.resize(out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = fromf<T>(nd(rng));
    m.f[i] = tof<T>(out[i]);
  }
  return out;
}

// float64 reference of AttentionParams semantics
std::vector<double> reference(const Case& c, const Mat& q, const Mat& k, const Mat& v, const Mat* kr, const Mat* vr,
                              double scale) {
  const int H = c.heads, D = c.D, C = H * D;
  std::vector<double> out((size_t)c.frames * c.Lq * C, 0.0);
  // segment 1 (K, V) is causal when causal1, segment 2 (K2, V2: the own keys) when c.causal
  auto attend = [&](int b, int h, int i, const Mat& K, const Mat& V, int kf, int kcol, int vcol, int len,
                    const Mat& K2, const Mat& V2, int kf2, int len2, bool causal1, std::vector<double>& o) {
    std::vector<double> s;
    std::vector<std::pair<const float*, const float*>> rows;
    auto add = [&](const Mat& KK, const Mat& VV, int f, int n, bool causal) {
      for (int j = 0; j < n; ++j) {
        if (causal && j > i) break;
        const float* kp = &KK.f[((size_t)f * KK.L + j) * KK.W + kcol + h * D];
        const float* vp = &VV.f[((size_t)f * VV.L + j) * VV.W + vcol + h * D];
        const float* qp = &q.f[((size_t)b * q.L + i) * q.W + c.qcol + h * D];
        double d = 0;
        for (int x = 0; x < D; ++x) d += (double)qp[x] * kp[x];
        s.push_back(d * scale);
        rows.push_back({kp, vp});
      }
    };
    add(K, V, kf, len, causal1);
    if (len2 > 0) add(K2, V2, kf2, len2, c.causal);
    double mx = -1e300;
    for (double x : s) mx = std::max(mx, x);
    double sum = 0;
    for (double& x : s) sum += (x = std::exp(x - mx));
    o.assign(D, 0.0);
    for (size_t j = 0; j < s.size(); ++j)
      for (int x = 0; x < D; ++x) o[x] += s[j] / sum * rows[j].second[x];
  };
  for (int b = 0; b < c.frames; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < c.Lq; ++i) {
        int r = c.ref.empty() || c.mode == kAttnNone ? -1 : c.ref[b];
        if (!kr && r == b) r = -1;
        std::vector<double> o, o2;
        const Mat& K0 = (r >= 0 && kr) ? *kr : k;
        const Mat& V0 = (r >= 0 && vr) ? *vr : v;
        const int len0 = (r >= 0 && kr) ? c.Lr : c.Lk;
        if (r < 0) {
          attend(b, h, i, k, v, b, c.kcol, c.vcol, c.Lk, k, v, b, 0, c.causal, o);
        } else if (c.mode == kAttnReplace) {
          attend(b, h, i, K0, V0, r, c.kcol, c.vcol, len0, k, v, b, 0, false, o);
        } else if (c.mode == kAttnConcat) {
          attend(b, h, i, K0, V0, r, c.kcol, c.vcol, len0, k, v, b, c.Lk, false, o);
        } else {
          attend(b, h, i, K0, V0, r, c.kcol, c.vcol, len0, k, v, b, 0, false, o);
          attend(b, h, i, k, v, b, c.kcol, c.vcol, c.Lk, k, v, b, 0, c.causal, o2);
          for (int x = 0; x < c.D; ++x) o[x] = (c.lr * o[x] + c.ls * o2[x]) / (c.lr + c.ls);
        }
        for (int x = 0; x < c.D; ++x) out[((size_t)b * c.Lq + i) * C + h * c.D + x] = o[x];
      }
  return out;
}

// The launcher of the head-dim group (attention_flash_d<DMAX>.cu), with the stratified stash in
// shared memory or in global scratch sized from the group's configuration.
template <int DMAX>
void run_flash_group(const AttnArgs& a, DType dtype, int variant, bool global_stash, std::vector<float>& stash) {
  AttnArgs args = a;
  if (global_stash) {
    const FlashConfig f = flash_group_config<DMAX>(variant);
    const size_t ctas = (size_t)((a.q_len + f.block_rows - 1) / f.block_rows) * a.heads * a.frames;
    stash.assign(ctas * f.stash_bytes / 4, 0.f);
    args.stash = stash.data();
  }
  launch_flash_group<DMAX>(args, dtype, !global_stash, variant, nullptr);
}

void dispatch_flash(const Case& c, const AttnArgs& a, DType dtype, bool gstash, std::vector<float>& st) {
  switch (flash_group(c.D)) {
    case 64: return run_flash_group<64>(a, dtype, c.variant, gstash, st);
    case 96: return run_flash_group<96>(a, dtype, c.variant, gstash, st);
    case 160: return run_flash_group<160>(a, dtype, c.variant, gstash, st);
    default: return run_flash_group<256>(a, dtype, c.variant, gstash, st);
  }
}

// The host flow of attention_naive.cu (which allocates through the backend) with the emulator as the device.
template <typename T>
void naive_attend(const AttnArgs& a, Operand kop, Operand vop, int keys, const std::vector<int32_t>& len, void* out) {
  const int B = a.frames, H = a.heads, D = a.head_dim, Lq = a.q_len;
  const int pitch = (keys + 7) / 8 * 8;
  std::vector<T> s((size_t)B * H * Lq * pitch, fromf<T>(-777.f));
  const int64_t C = (int64_t)H * D;
  Operand qop{a.q, a.q_frame, D, a.q_row};
  OutOperand sop{s.data(), (int64_t)H * Lq * pitch, (int64_t)Lq * pitch, pitch};
  const float scale = a.scale_log2 / 1.4426950408889634f;
  emu::launch_body(dim3((keys + 63) / 64, (Lq + 63) / 64, B * H), 128, kNaiveGemmSmemBytes,
                   [&] { naive_gemm_kernel<T, false>(qop, kop, sop, Lq, keys, D, keys, H, scale); });
  const int64_t rows = (int64_t)B * H * Lq;
  emu::launch_body(dim3((rows + 3) / 4, 1, 1), 128, 0,
                   [&] { naive_softmax_kernel<T>(s.data(), rows, H * Lq, pitch, len.data()); });
  Operand pop{s.data(), (int64_t)H * Lq * pitch, (int64_t)Lq * pitch, pitch};
  OutOperand oop{out, (int64_t)Lq * C, D, C};
  emu::launch_body(dim3((D + 63) / 64, (Lq + 63) / 64, B * H), 128, kNaiveGemmSmemBytes,
                   [&] { naive_gemm_kernel<T, true>(pop, vop, oop, Lq, D, pitch, keys, H, 1.f); });
}

template <typename T>
void run_naive(const AttnArgs& a) {
  const int B = a.frames, H = a.heads, D = a.head_dim;
  const int64_t C = (int64_t)H * D;
  const NaiveKeyPlan kp = naive_key_plan(a);
  Operand kown{a.k, a.k_frame, D, a.k_row}, vown{a.v, a.v_frame, D, a.v_row};
  if (a.mode == kAttnNone) return naive_attend<T>(a, kown, vown, a.k_len, kp.own_len, a.out);
  const bool concat = a.mode == kAttnConcat;
  const int keys = kp.keys;
  std::vector<T> kk((size_t)B * keys * C), vv((size_t)B * keys * C);
  emu::launch_body(dim3(3, 1, 1), 128, 0, [&] {
    naive_gather_kernel<T>(kk.data(), B, keys, (int)C, static_cast<const T*>(a.k), a.k_frame, a.k_row,
                           static_cast<const T*>(a.k_ref), a.kr_frame, a.kr_row, kp.frame.data(), kp.cached.data(),
                           kp.len.data(), static_cast<const T*>(a.k), a.k_frame, a.k_row, concat ? a.k_len : 0);
    naive_gather_kernel<T>(vv.data(), B, keys, (int)C, static_cast<const T*>(a.v), a.v_frame, a.v_row,
                           static_cast<const T*>(a.v_ref), a.vr_frame, a.vr_row, kp.frame.data(), kp.cached.data(),
                           kp.len.data(), static_cast<const T*>(a.v), a.v_frame, a.v_row, concat ? a.k_len : 0);
  });
  Operand kop{kk.data(), (int64_t)keys * C, D, C}, vop{vv.data(), (int64_t)keys * C, D, C};
  if (a.mode != kAttnStratified)
    return naive_attend<T>(a, kop, vop, keys, concat ? kp.cat_len : kp.len, a.out);
  std::vector<T> tmp((size_t)B * a.q_len * C);
  naive_attend<T>(a, kop, vop, keys, kp.len, tmp.data());
  naive_attend<T>(a, kown, vown, a.k_len, kp.own_len, a.out);
  const int64_t on = (int64_t)B * a.q_len * C;
  emu::launch_body(dim3(2, 1, 1), 128, 0,
                   [&] { naive_combine_kernel<T>(tmp.data(), static_cast<T*>(a.out), on, a.w_ref, a.w_self); });
}

template <typename T>
void run_case(const Case& c, CopyMode mode, bool gstash) {
  emu::g_eager_copies = mode == kCopyAtIssue;
  std::mt19937 rng(1234 + c.D * 7 + c.Lq);
  const int C = c.heads * c.D, W = C + c.extra;
  Mat q{c.frames, c.Lq, W}, k{c.frames, c.Lk, W}, v{c.frames, c.Lk, W};
  Mat kr{std::max(c.R, 1), std::max(c.Lr, 1), W}, vr{std::max(c.R, 1), std::max(c.Lr, 1), W};
  auto hq = make<T>(q, rng, 1.0f), hk = make<T>(k, rng, 1.5f), hv = make<T>(v, rng, 1.0f);
  auto hkr = make<T>(kr, rng, 1.5f), hvr = make<T>(vr, rng, 1.0f);
  std::vector<T> hout((size_t)c.frames * c.Lq * C, fromf<T>(12345.f));
  const double scale = 1.0 / std::sqrt((double)c.D);

  AttnArgs a;
  a.q = hq.data() + c.qcol;
  a.k = hk.data() + c.kcol;
  a.v = hv.data() + c.vcol;
  a.out = hout.data();
  a.q_row = W, a.q_frame = (int64_t)c.Lq * W;
  a.k_row = W, a.k_frame = (int64_t)c.Lk * W;
  a.v_row = W, a.v_frame = (int64_t)c.Lk * W;
  const bool cache = c.R > 0;
  if (cache) {
    a.k_ref = hkr.data() + c.kcol;
    a.v_ref = hvr.data() + c.vcol;
    a.kr_row = a.vr_row = W;
    a.kr_frame = a.vr_frame = (int64_t)c.Lr * W;
  }
  a.frames = c.frames, a.heads = c.heads, a.head_dim = c.D;
  a.q_len = c.Lq, a.k_len = c.Lk, a.ref_len = cache ? c.Lr : c.Lk;
  a.mode = c.mode, a.causal = c.causal;
  a.scale_log2 = (float)(scale * 1.4426950408889634);
  a.w_ref = c.lr / (c.lr + c.ls), a.w_self = c.ls / (c.lr + c.ls);
  a.has_ref = !c.ref.empty();
  for (size_t i = 0; i < c.ref.size(); ++i) a.ref[i] = (int16_t)c.ref[i];

  std::vector<float> st;
  const DType dtype = c.bf16 ? DType::BF16 : DType::F16;
  if (c.kernel == 3) {
    const std::string why = sm90_attention_problem(a, dtype);
    if (!why.empty()) {
      emutest::expect(false, "attention " + c.name, "the Hopper kernel refused it: " + why);
      return;
    }
    launch_attention_sm90(a, dtype, nullptr);
  } else if (c.kernel == 0) {
    dispatch_flash(c, a, dtype, gstash, st);
  } else if (c.kernel == 2) {
    run_naive<T>(a);
  } else {
    launch_attention_simple(a, dtype, nullptr);
  }
  auto want = reference(c, q, k, v, cache ? &kr : nullptr, cache ? &vr : nullptr, scale);
  double maxerr = 0, maxref = 0;
  size_t worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double e = std::fabs((double)tof<T>(hout[i]) - want[i]);
    if (!(e <= maxerr)) maxerr = e, worst = i;
    maxref = std::max(maxref, std::fabs(want[i]));
  }
  const double tol = (c.bf16 ? 2e-2 : 3e-3) * std::max(1.0, maxref);
  const bool ok = maxerr <= tol;
  char label[200], detail[160] = "";
  std::snprintf(label, sizeof label, "attention %-48s %s%s max|err| %.2e (tol %.1e, max|ref| %.2f)", c.name.c_str(),
                mode == kCopyAtIssue ? "copy@issue" : "copy@wait ", gstash ? " gstash" : "       ", maxerr, tol, maxref);
  if (!ok) std::snprintf(detail, sizeof detail, "worst [%zu]: got %g want %g", worst, (double)tof<T>(hout[worst]), want[worst]);
  emutest::expect(ok, label, detail);
  emu::g_eager_copies = false;
}

std::vector<Case> attention_cases() {
  std::vector<Case> cases;
  auto add = [&](Case c) { cases.push_back(c); };
  // plain attention per head-dim group, ragged lengths, cross-attention (Lq != Lk)
  for (int D : {40, 64, 80, 120, 160, 256}) {
    Case c;
    c.D = D;
    c.name = "plain D=" + std::to_string(D) + " Lq=70 Lk=77";
    add(c);
  }
  {
    Case c;
    c.D = 40, c.variant = 1, c.name = "plain D=40 variant 1";
    add(c);
  }
  {
    Case c;
    c.D = 8, c.Lq = 33, c.Lk = 20, c.name = "plain D=8 (group 64, 1 k-step)";
    add(c);
  }
  // guidance batch [P_pos, G_neg x 2, G_pos x 2]: conflict-free refs
  const std::vector<int> cf = {-1, -1, -1, 0, 0};
  for (int mode : {kAttnConcat, kAttnStratified, kAttnReplace}) {
    for (int D : {40, 160}) {
      Case c;
      c.frames = 5, c.D = D, c.Lq = 40, c.Lk = 40, c.mode = mode, c.ref = cf;
      c.lr = 0.6f, c.ls = 1.4f;
      c.name = std::string(mode == kAttnConcat ? "concat" : mode == kAttnStratified ? "stratified" : "replace") +
               " conflict-free D=" + std::to_string(D);
      add(c);
    }
  }
  {  // conflicting guidance [P_neg, G_neg, P_pos, G_pos], stratified, D = 80 (group 96), variant 1 of 64
    Case c;
    c.frames = 4, c.D = 80, c.Lq = 65, c.Lk = 65, c.mode = kAttnStratified, c.ref = {-1, 0, -1, 2};
    c.name = "stratified conflicting D=80 Lq=65";
    add(c);
    c.D = 64, c.variant = 1, c.name = "stratified conflicting D=64 variant 1";
    add(c);
    c.D = 256, c.variant = 0, c.Lq = 40, c.Lk = 33, c.name = "stratified conflicting D=256 Lk=33";
    add(c);
  }
  {  // cache variant: k_ref/v_ref of their own length, column windows (fused QKV)
    Case c;
    c.frames = 3, c.D = 40, c.Lq = 50, c.Lk = 50, c.R = 2, c.Lr = 77, c.mode = kAttnConcat, c.ref = {1, -1, 0};
    c.extra = 16, c.qcol = 8, c.kcol = 0, c.vcol = 16;
    c.name = "concat cache Lr=77 windows";
    add(c);
    c.mode = kAttnStratified, c.name = "stratified cache Lr=77 windows";
    add(c);
    c.D = 96, c.name = "stratified cache D=96 windows";
    add(c);
  }
  {  // causal (CLIP text encoder), ragged
    Case c;
    c.frames = 2, c.D = 64, c.Lq = 77, c.Lk = 77, c.causal = 1, c.name = "causal D=64 L=77";
    add(c);
    c.variant = 1, c.name = "causal D=64 L=77 variant 1";
    add(c);
    c.variant = 0, c.D = 160, c.Lq = c.Lk = 70, c.name = "causal D=160 L=70";
    add(c);
  }
  {  // causal own keys next to (unmasked) reference keys; a frame referencing itself
    Case c;
    c.frames = 3, c.D = 64, c.Lq = 77, c.Lk = 77, c.causal = 1, c.mode = kAttnConcat, c.ref = {-1, 0, 2};
    c.name = "causal concat D=64 L=77 (self-reference)";
    add(c);
    c.mode = kAttnStratified, c.D = 40, c.name = "causal stratified D=40 L=77 (self-reference)";
    add(c);
    c.kernel = 1, c.name = "simple causal stratified D=40 (self-reference)";
    add(c);
    c.kernel = 0, c.D = 96, c.Lq = c.Lk = 150, c.mode = kAttnConcat, c.ref = {-1, 0, 0};
    c.name = "causal concat D=96 L=150 (own tiles skipped)";
    add(c);
    c.D = 40, c.mode = kAttnStratified, c.name = "causal stratified D=40 L=150 (own tiles skipped)";
    add(c);
  }
  {  // several query tiles and key tiles of the Hopper kernel (128 queries, 64/128 keys per tile)
    Case c;
    c.frames = 3, c.heads = 2, c.D = 64, c.Lq = 300, c.Lk = 300, c.mode = kAttnStratified, c.ref = {-1, 0, 0};
    c.name = "stratified D=64 L=300 (3 query tiles)";
    add(c);
    c.D = 80, c.mode = kAttnConcat, c.causal = 1, c.name = "causal concat D=80 L=300";
    add(c);
  }
  {  // bf16
    Case c;
    c.bf16 = true, c.frames = 3, c.D = 40, c.Lq = 40, c.Lk = 40, c.mode = kAttnStratified, c.ref = {-1, 0, 0};
    c.name = "bf16 stratified D=40";
    add(c);
  }
  {  // simple kernel: tiny head dims, misaligned windows, large head dims
    Case c;
    c.kernel = 1, c.D = 4, c.heads = 8, c.frames = 6, c.Lq = 16, c.Lk = 16, c.mode = kAttnStratified;
    c.ref = {-1, -1, -1, 3, 3, 3}, c.extra = 3, c.qcol = 1, c.kcol = 2, c.vcol = 3;
    c.name = "simple stratified D=4 H=8 odd windows";
    add(c);
    c.mode = kAttnConcat, c.name = "simple concat D=4 H=8 odd windows";
    add(c);
    Case d;
    d.kernel = 1, d.D = 512, d.heads = 1, d.frames = 1, d.Lq = 9, d.Lk = 30, d.name = "simple D=512";
    add(d);
    Case e;
    e.kernel = 1, e.D = 8, e.heads = 4, e.Lq = 20, e.Lk = 20, e.causal = 1, e.name = "simple causal D=8";
    add(e);
    Case f;
    f.kernel = 1, f.D = 24, f.frames = 3, f.R = 1, f.Lr = 11, f.mode = kAttnReplace, f.ref = {0, -1, 0};
    f.name = "simple replace cache D=24";
    add(f);
  }

  {  // the benchmark's naive path: materialised scores, gathered / concatenated K and V
    Case c;
    c.kernel = 2, c.frames = 5, c.D = 40, c.Lq = 70, c.Lk = 70, c.ref = cf, c.lr = 0.6f, c.ls = 1.4f;
    for (int mode : {kAttnNone, kAttnConcat, kAttnStratified, kAttnReplace}) {
      c.mode = mode;
      c.name = "naive mode " + std::to_string(mode) + " D=40 L=70";
      add(c);
    }
    c.D = 80, c.mode = kAttnConcat, c.R = 1, c.Lr = 77, c.ref = {0, -1, 0, -1, 0}, c.name = "naive concat cache D=80";
    add(c);
    c.bf16 = true, c.mode = kAttnStratified, c.name = "naive bf16 stratified cache D=80";
    add(c);
  }

  return cases;
}

}  // namespace

void run_attention_cases(const std::string& filter) {
  for (const Case& c : attention_cases()) {
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    for (auto mode : {kCopyAtWait, kCopyAtIssue}) {
      if (c.bf16) run_case<__nv_bfloat16>(c, mode, false);
      else run_case<__half>(c, mode, false);
    }
    if (c.kernel == 0 && c.mode == kAttnStratified && !c.bf16) run_case<__half>(c, kCopyAtWait, true);
    // Every F16 flash case of a head dim the Hopper kernel has runs on it too.
    if (c.kernel == 0 && !c.bf16 && (c.D == 40 || c.D == 64 || c.D == 80 || c.D == 160)) {
      Case h = c;
      h.kernel = 3;
      h.name = "sm90 " + c.name;
      for (auto mode : {kCopyAtWait, kCopyAtIssue}) run_case<__half>(h, mode, false);
    }
  }
}
