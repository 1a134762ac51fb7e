// Naive CPU attention for the benchmark (see attention_naive.h): materialised K/V and scores.
// The three inner loops are compiled for AVX-512, AVX2 and the baseline (target_clones picks one
// at load time) so the baseline is not handicapped by the instruction set against the fused op.
#include "attention_naive.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../core/threadpool.h"
#include "../op_checks.h"

namespace indetail {

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define INDETAIL_NAIVE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define INDETAIL_NAIVE_CLONES
#endif

// s[j] = scale * sum_d q[d] * kt[d * n + j]   (kt: [D, n], the keys transposed)
INDETAIL_NAIVE_CLONES void scores_row(const float* __restrict q, const float* __restrict kt, float* __restrict s,
                                      int D, int n, float scale) {
  for (int j = 0; j < n; ++j) s[j] = 0.f;
  for (int d = 0; d < D; ++d) {
    const float qd = q[d] * scale;
    const float* __restrict row = kt + (size_t)d * n;
    for (int j = 0; j < n; ++j) s[j] += qd * row[j];
  }
}

INDETAIL_NAIVE_CLONES void softmax_row(float* __restrict s, int n) {
  float mx = -INFINITY;
  for (int j = 0; j < n; ++j) mx = std::max(mx, s[j]);
  float sum = 0.f;
  for (int j = 0; j < n; ++j) {
    s[j] = std::exp(s[j] - mx);
    sum += s[j];
  }
  const float inv = 1.f / sum;
  for (int j = 0; j < n; ++j) s[j] *= inv;
}

// o[x] = sum_j p[j] * v[j * ld + x]
INDETAIL_NAIVE_CLONES void pv_row(const float* __restrict p, const float* __restrict v, float* __restrict o, int n,
                                  int D, int64_t ld) {
  for (int x = 0; x < D; ++x) o[x] = 0.f;
  for (int j = 0; j < n; ++j) {
    const float pj = p[j];
    const float* __restrict vr = v + j * ld;
    for (int x = 0; x < D; ++x) o[x] += pj * vr[x];
  }
}

// Key list of one frame: rows [0, n) of a matrix with row stride ld (columns already offset).
struct Keys {
  const float* k;
  const float* v;
  int64_t ld_k, ld_v;
  int n;
};

// out rows (stride C) of frame b = softmax(scale q k^T) v for every head, scores materialised.
void attend_frame(const float* q, int64_t ldq, int Lq, int H, int D, const Keys& kv, float scale, float* out,
                  int64_t ldo, std::vector<float>& scores, std::vector<float>& kt) {
  const int n = kv.n;
  scores.resize((size_t)Lq * n);
  kt.resize((size_t)D * n);
  for (int h = 0; h < H; ++h) {
    for (int j = 0; j < n; ++j)
      for (int d = 0; d < D; ++d) kt[(size_t)d * n + j] = kv.k[j * kv.ld_k + h * D + d];
    float* S = scores.data();
    const float* KT = kt.data();
    parallel_for(Lq, 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) scores_row(q + i * ldq + h * D, KT, S + i * n, D, n, scale);
    });
    parallel_for(Lq, 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) softmax_row(S + i * n, n);
    });
    parallel_for(Lq, 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) pv_row(S + i * n, kv.v + h * D, out + i * ldo + h * D, n, D, kv.ld_v);
    });
  }
}

void check_cpu(const char* name, const Tensor& t) {
  check_device("naive attention (CPU)", name, t, Device::CPU);
  check_dtype("naive attention (CPU)", name, t, DType::F32);
  check_rank("naive attention (CPU)", name, t, 3);
}

}  // namespace

uint64_t naive_attention_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref,
                             const Tensor* v_ref, Tensor& out, const AttentionParams& p) {
  const char* op = "naive attention (CPU)";
  check_cpu("q", q);
  check_cpu("k", k);
  check_cpu("v", v);
  check_cpu("out", out);
  check_arg((k_ref == nullptr) == (v_ref == nullptr), op, ": k_ref and v_ref must be given together");
  if (k_ref) {
    check_cpu("k_ref", *k_ref);
    check_cpu("v_ref", *v_ref);
  }
  check_arg(!p.causal, op, ": causal masking is not implemented in the naive path");
  check_arg(p.heads >= 1 && out.size(2) % p.heads == 0, op, ": heads ", p.heads, " must divide the width of out ",
            out.describe());
  const int B = (int)q.size(0), Lq = (int)q.size(1), H = p.heads;
  const int64_t C = out.size(2);
  const int D = (int)(C / H);
  check_shape(op, "out", out, {B, Lq, C});
  check_arg(k.size(0) == B && v.size(0) == B && k.size(1) == v.size(1) && k.size(1) >= 1, op, ": k ", k.describe(),
            " and v ", v.describe(), " must be [", B, ", Lk >= 1, *]");
  const int Lk = (int)k.size(1);
  const int Lr = k_ref ? (int)k_ref->size(1) : Lk;
  auto window = [&](const char* name, const Tensor& t, int64_t col) {
    check_arg(col >= 0 && col + C <= t.size(2), op, ": columns [", col, ", ", col + C, ") of ", name,
              " do not fit its rows: ", t.describe());
  };
  window("q", q, p.q_col);
  window("k", k, p.k_col);
  window("v", v, p.v_col);
  if (k_ref) {
    window("k_ref", *k_ref, p.k_col);
    window("v_ref", *v_ref, p.v_col);
    check_arg(v_ref->size(0) == k_ref->size(0) && v_ref->size(1) == Lr, op, ": k_ref and v_ref must match");
  }
  check_arg(p.ref.empty() || (int)p.ref.size() == B, op, ": ref has ", p.ref.size(), " entries for ", B, " frames");
  const int limit = k_ref ? (int)k_ref->size(0) : B;
  for (size_t b = 0; b < p.ref.size(); ++b)
    check_arg(p.ref[b] >= -1 && p.ref[b] < limit, op, ": ref[", b, "] = ", p.ref[b], " is outside [-1, ", limit, ")");
  check_arg(p.mode != RefMode::Stratified || p.lambda_ref + p.lambda_self != 0.f, op,
            ": lambda_ref + lambda_self must not be 0");
  if (B == 0 || Lq == 0) return 0;

  const float* qd = q.data<float>() + p.q_col;
  const int64_t ldq = q.size(2);
  float* od = out.data<float>();
  std::vector<float> scores, kt;
  uint64_t extra = 0, peak_scores = 0;
  auto own = [&](int b) {
    return Keys{k.data<float>() + p.k_col + (int64_t)b * Lk * k.size(2), v.data<float>() + p.v_col + (int64_t)b * Lk * v.size(2),
                k.size(2), v.size(2), Lk};
  };
  auto run = [&](int b, const Keys& kv, float* o) {
    attend_frame(qd + (int64_t)b * Lq * ldq, ldq, Lq, H, D, kv, p.scale, o, C, scores, kt);
    peak_scores = std::max<uint64_t>(peak_scores, (scores.size() + kt.size()) * 4);
  };

  const bool any = p.mode != RefMode::None && !p.ref.empty();
  if (!any) {
    for (int b = 0; b < B; ++b) run(b, own(b), od + (int64_t)b * Lq * C);
    return peak_scores;
  }
  // gather / concatenate every frame's keys and values (the reference's batched tensors)
  const bool concat = p.mode == RefMode::Concat;
  std::vector<int> slen(B);
  int keys = 0;
  for (int b = 0; b < B; ++b) {
    const int r = p.ref[b];
    slen[b] = r >= 0 && k_ref ? Lr : Lk;
    keys = std::max(keys, slen[b] + (concat ? Lk : 0));
  }
  std::vector<float> kk((size_t)B * keys * C, 0.f), vv((size_t)B * keys * C, 0.f);
  extra += (kk.size() + vv.size()) * 4;
  for (int b = 0; b < B; ++b) {
    const int r = p.ref[b];
    const Tensor& ks = r >= 0 && k_ref ? *k_ref : k;
    const Tensor& vs = r >= 0 && v_ref ? *v_ref : v;
    const int f = r >= 0 ? r : b, n = slen[b];
    for (int j = 0; j < n; ++j) {
      std::memcpy(&kk[((size_t)b * keys + j) * C], ks.data<float>() + ((int64_t)f * ks.size(1) + j) * ks.size(2) + p.k_col, C * 4);
      std::memcpy(&vv[((size_t)b * keys + j) * C], vs.data<float>() + ((int64_t)f * vs.size(1) + j) * vs.size(2) + p.v_col, C * 4);
    }
    if (concat)
      for (int j = 0; j < Lk; ++j) {
        std::memcpy(&kk[((size_t)b * keys + n + j) * C], k.data<float>() + ((int64_t)b * Lk + j) * k.size(2) + p.k_col, C * 4);
        std::memcpy(&vv[((size_t)b * keys + n + j) * C], v.data<float>() + ((int64_t)b * Lk + j) * v.size(2) + p.v_col, C * 4);
      }
  }
  auto gathered = [&](int b) {
    return Keys{kk.data() + (size_t)b * keys * C, vv.data() + (size_t)b * keys * C, C, C, slen[b] + (concat ? Lk : 0)};
  };
  if (p.mode != RefMode::Stratified) {
    for (int b = 0; b < B; ++b) run(b, gathered(b), od + (int64_t)b * Lq * C);
    return extra + peak_scores;
  }
  std::vector<float> tmp((size_t)B * Lq * C);
  extra += tmp.size() * 4;
  for (int b = 0; b < B; ++b) run(b, gathered(b), tmp.data() + (size_t)b * Lq * C);
  for (int b = 0; b < B; ++b) run(b, own(b), od + (int64_t)b * Lq * C);
  const float wr = p.lambda_ref / (p.lambda_ref + p.lambda_self), ws = p.lambda_self / (p.lambda_ref + p.lambda_self);
  parallel_for((int64_t)B * Lq * C, 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) od[i] = wr * tmp[i] + ws * od[i];
  });
  return extra + peak_scores;
}

}  // namespace indetail
