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

// Rows r < R (R <= 4, a register block: each streamed row of K^T / V serves R query rows):
// s_r[j] = scale * sum_d q_r[d] * kt[d * n + j]   (kt: [D, n], the keys transposed)
INDETAIL_NAIVE_CLONES void scores_rows(const float* q, int64_t ldq, const float* __restrict kt, float* s, int64_t lds,
                                       int R, int D, int n, float scale) {
  float* __restrict s0 = s;
  float* __restrict s1 = s + (R > 1 ? lds : 0);
  float* __restrict s2 = s + (R > 2 ? 2 * lds : 0);
  float* __restrict s3 = s + (R > 3 ? 3 * lds : 0);
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < n; ++j) s[r * lds + j] = 0.f;
  for (int d = 0; d < D; ++d) {
    const float* __restrict row = kt + (size_t)d * n;
    const float a0 = q[d] * scale, a1 = R > 1 ? q[ldq + d] * scale : 0.f, a2 = R > 2 ? q[2 * ldq + d] * scale : 0.f,
                a3 = R > 3 ? q[3 * ldq + d] * scale : 0.f;
    if (R == 4) {
      for (int j = 0; j < n; ++j) {
        const float k = row[j];
        s0[j] += a0 * k;
        s1[j] += a1 * k;
        s2[j] += a2 * k;
        s3[j] += a3 * k;
      }
    } else {
      for (int j = 0; j < n; ++j) s0[j] += a0 * row[j];
      if (R > 1) for (int j = 0; j < n; ++j) s1[j] += a1 * row[j];
      if (R > 2) for (int j = 0; j < n; ++j) s2[j] += a2 * row[j];
    }
  }
}

// exp(x) for x <= 0 to a few ulp, branch-free so the loop vectorises (libm's expf does not here):
// 2^(x log2 e) = 2^k * 2^f, k = round, |f| <= 1/2, 2^f by a degree-7 polynomial.
inline float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);
  const float t = x * 1.44269504088896341f;
  const float k = std::nearbyint(t);
  const float f = t - k;
  float p = 1.5252734e-5f;  // Taylor coefficients ln(2)^i / i!, remainder < 1e-8 for |f| <= 1/2
  p = p * f + 1.5403530e-4f;
  p = p * f + 1.3333558e-3f;
  p = p * f + 9.6181291e-3f;
  p = p * f + 5.5504109e-2f;
  p = p * f + 2.4022651e-1f;
  p = p * f + 6.9314718e-1f;
  p = p * f + 1.0f;
  int32_t bits;
  std::memcpy(&bits, &p, 4);
  bits += (int32_t)k << 23;
  std::memcpy(&p, &bits, 4);
  return p;
}

INDETAIL_NAIVE_CLONES void softmax_row(float* __restrict s, int n) {
  float mx = -INFINITY;
  for (int j = 0; j < n; ++j) mx = std::max(mx, s[j]);
  float sum = 0.f;
  for (int j = 0; j < n; ++j) {
    s[j] = exp_nonpositive(s[j] - mx);
    sum += s[j];
  }
  const float inv = 1.f / sum;
  for (int j = 0; j < n; ++j) s[j] *= inv;
}

// o_r[x] = sum_j p_r[j] * v[j * ld + x] for rows r < R (R <= 4)
INDETAIL_NAIVE_CLONES void pv_rows(const float* p, int64_t ldp, const float* __restrict v, float* o, int64_t ldo, int R,
                                   int n, int D, int64_t ld) {
  float* __restrict o0 = o;
  float* __restrict o1 = o + (R > 1 ? ldo : 0);
  float* __restrict o2 = o + (R > 2 ? 2 * ldo : 0);
  float* __restrict o3 = o + (R > 3 ? 3 * ldo : 0);
  for (int r = 0; r < R; ++r)
    for (int x = 0; x < D; ++x) o[r * ldo + x] = 0.f;
  for (int j = 0; j < n; ++j) {
    const float* __restrict vr = v + j * ld;
    const float p0 = p[j], p1 = R > 1 ? p[ldp + j] : 0.f, p2 = R > 2 ? p[2 * ldp + j] : 0.f,
                p3 = R > 3 ? p[3 * ldp + j] : 0.f;
    if (R == 4) {
      for (int x = 0; x < D; ++x) {
        const float w = vr[x];
        o0[x] += p0 * w;
        o1[x] += p1 * w;
        o2[x] += p2 * w;
        o3[x] += p3 * w;
      }
    } else {
      for (int x = 0; x < D; ++x) o0[x] += p0 * vr[x];
      if (R > 1) for (int x = 0; x < D; ++x) o1[x] += p1 * vr[x];
      if (R > 2) for (int x = 0; x < D; ++x) o2[x] += p2 * vr[x];
    }
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
    const int64_t blocks = (Lq + 3) / 4;
    parallel_for(blocks, 4, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t i = blk * 4;
        const int R = (int)std::min<int64_t>(4, Lq - i);
        scores_rows(q + i * ldq + h * D, ldq, KT, S + i * n, n, R, D, n, scale);
      }
    });
    parallel_for(Lq, 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) softmax_row(S + i * n, n);
    });
    parallel_for(blocks, 4, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t i = blk * 4;
        const int R = (int)std::min<int64_t>(4, Lq - i);
        pv_rows(S + i * n, n, kv.v + h * D, out + i * ldo + h * D, ldo, R, n, D, kv.ld_v);
      }
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
  // a cache as wide as k / v uses their column windows, else columns [0, C) (as the op)
  const int64_t kr_col = k_ref && k_ref->size(2) != k.size(2) ? 0 : p.k_col;
  const int64_t vr_col = v_ref && v_ref->size(2) != v.size(2) ? 0 : p.v_col;
  if (k_ref) {
    window("k_ref", *k_ref, kr_col);
    window("v_ref", *v_ref, vr_col);
    check_arg(v_ref->size(0) == k_ref->size(0) && v_ref->size(1) == Lr, op, ": k_ref and v_ref must match");
  }
  check_arg(p.ref.empty() || (int)p.ref.size() == B, op, ": ref has ", p.ref.size(), " entries for ", B, " frames");
  const int limit = k_ref ? (int)k_ref->size(0) : B;
  if (p.mode != RefMode::None)
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
    const bool cached = r >= 0 && k_ref;
    const Tensor& ks = cached ? *k_ref : k;
    const Tensor& vs = cached ? *v_ref : v;
    const int64_t kc = cached ? kr_col : p.k_col, vc = cached ? vr_col : p.v_col;
    const int f = r >= 0 ? r : b, n = slen[b];
    for (int j = 0; j < n; ++j) {
      std::memcpy(&kk[((size_t)b * keys + j) * C], ks.data<float>() + ((int64_t)f * ks.size(1) + j) * ks.size(2) + kc, C * 4);
      std::memcpy(&vv[((size_t)b * keys + j) * C], vs.data<float>() + ((int64_t)f * vs.size(1) + j) * vs.size(2) + vc, C * 4);
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
