// version 1: GroupNorm in three launches, all F32 math.
//  1. partial statistics: block (chunk, channel slice, frame) reads rows [chunk*R, chunk*R + R)
//     of its channels once, coalesced along C; each thread accumulates shifted sums per channel
//     (shift = its first value, so a large mean does not cancel the variance), and the block
//     merges its threads (Chan's formula) into a (mean, M2) pair per (frame, chunk, channel).
//  2. finalize: one block per (frame, group) merges chunks × channels-of-the-group pairs and
//     writes per-channel scale = rstd·γ and shift = β − mean·scale.
//  3. apply: y = x·scale + shift (then SiLU), 8 channels per thread.
#include <algorithm>

#include "../../engine/core/error.h"
#include "group_norm.h"
#include "norm_apply.cuh"
#include "vec.cuh"

namespace indetail {
namespace cuda {

namespace {

constexpr int kThreads = 256;

// Chan et al.: merges (nb, mb, m2b) into (n, m, m2).
__device__ __forceinline__ void merge_stats(float& n, float& m, float& m2, float nb, float mb, float m2b) {
  if (nb == 0.0f) return;
  if (n == 0.0f) {
    n = nb;
    m = mb;
    m2 = m2b;
    return;
  }
  const float nt = n + nb;
  const float d = mb - m;
  m += d * (nb / nt);
  m2 += m2b + d * d * (n * nb / nt);
  n = nt;
}

template <typename T, int VW>
__global__ void __launch_bounds__(kThreads) gn_partial_kernel(const T* __restrict__ x, float2* __restrict__ partial,
                                                              int64_t HW, int C, int cvb, int rpi, int rows_per_chunk,
                                                              int chunks) {
  __shared__ float2 st[kThreads * 8];
  const int tid = threadIdx.x;
  const int chunk = blockIdx.x, n = blockIdx.z;
  const int cv_total = C / VW;
  const int cvi = tid % cvb, roff = tid / cvb;
  const int cv = blockIdx.y * cvb + cvi;
  const bool active = roff < rpi && cv < cv_total;
  const int64_t row0 = (int64_t)chunk * rows_per_chunk;
  const int rows = (int)min((int64_t)rows_per_chunk, HW - row0);
  const int lc_count = cvb * VW;  // channels of this block's slice

  if (active) {
    float sh[VW], s[VW], q[VW];
#pragma unroll
    for (int j = 0; j < VW; ++j) sh[j] = s[j] = q[j] = 0.0f;
    int cnt = 0;
    const T* p = x + ((int64_t)n * HW + row0) * C + (int64_t)cv * VW;
    for (int r = roff; r < rows; r += rpi) {
      float v[VW];
      load_vec<T, VW>(p + (int64_t)r * C, v);
      if (cnt == 0) {
#pragma unroll
        for (int j = 0; j < VW; ++j) sh[j] = v[j];
      }
#pragma unroll
      for (int j = 0; j < VW; ++j) {
        const float d = v[j] - sh[j];
        s[j] += d;
        q[j] += d * d;
      }
      ++cnt;
    }
    const float inv = cnt ? 1.0f / (float)cnt : 0.0f;
#pragma unroll
    for (int j = 0; j < VW; ++j) st[roff * lc_count + cvi * VW + j] = make_float2(sh[j] + s[j] * inv, q[j] - s[j] * s[j] * inv);
  }
  __syncthreads();
  const int c_base = blockIdx.y * lc_count;
  for (int lc = tid; lc < lc_count; lc += kThreads) {
    const int c = c_base + lc;
    if (c >= C) break;
    float na = 0.0f, ma = 0.0f, m2a = 0.0f;
    for (int r = 0; r < rpi && r < rows; ++r) {
      const float nb = (float)((rows - r + rpi - 1) / rpi);  // rows handled by thread row r
      const float2 e = st[r * lc_count + lc];
      merge_stats(na, ma, m2a, nb, e.x, e.y);
    }
    partial[((int64_t)n * chunks + chunk) * C + c] = make_float2(ma, m2a);
  }
}

__global__ void __launch_bounds__(kThreads) gn_finalize_kernel(const float2* __restrict__ partial,
                                                               float2* __restrict__ scale_shift,
                                                               const float* __restrict__ gamma,
                                                               const float* __restrict__ beta, int64_t HW, int C,
                                                               int groups, int chunks, int rows_per_chunk, float eps) {
  __shared__ float sn[kThreads / 32], sm[kThreads / 32], sm2[kThreads / 32];
  __shared__ float s_mean, s_rstd;
  const int n = blockIdx.x / groups, g = blockIdx.x % groups;
  const int cpg = C / groups;
  const int entries = chunks * cpg;
  float na = 0.0f, ma = 0.0f, m2a = 0.0f;
  for (int e = threadIdx.x; e < entries; e += blockDim.x) {
    const int chunk = e / cpg;
    const int c = g * cpg + (e - chunk * cpg);
    const float nb = (float)min((int64_t)rows_per_chunk, HW - (int64_t)chunk * rows_per_chunk);
    const float2 p = partial[((int64_t)n * chunks + chunk) * C + c];
    merge_stats(na, ma, m2a, nb, p.x, p.y);
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const float nb = __shfl_xor_sync(0xffffffffu, na, off);
    const float mb = __shfl_xor_sync(0xffffffffu, ma, off);
    const float m2b = __shfl_xor_sync(0xffffffffu, m2a, off);
    merge_stats(na, ma, m2a, nb, mb, m2b);
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) {
    sn[warp] = na;
    sm[warp] = ma;
    sm2[warp] = m2a;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float tn = 0.0f, tm = 0.0f, tm2 = 0.0f;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) merge_stats(tn, tm, tm2, sn[w], sm[w], sm2[w]);
    const float var = tn > 0.0f ? fmaxf(tm2, 0.0f) / tn : 0.0f;
    s_mean = tm;
    s_rstd = rsqrtf(var + eps);
  }
  __syncthreads();
  const float mean = s_mean, rstd = s_rstd;
  for (int i = threadIdx.x; i < cpg; i += blockDim.x) {
    const int c = g * cpg + i;
    const float a = rstd * gamma[c];
    scale_shift[(int64_t)n * C + c] = make_float2(a, beta[c] - mean * a);
  }
}

template <typename T, int VW>
__global__ void gn_apply_kernel(const T* __restrict__ x, T* __restrict__ out, const float2* __restrict__ scale_shift,
                                int64_t HW, int C, int64_t vectors, int silu) {
  const int64_t frame = HW * C;
  for (int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; v < vectors; v += (int64_t)gridDim.x * blockDim.x) {
    const int64_t e = v * VW;
    const int64_t n = e / frame;
    const int c = (int)(e % C);
    float f[VW];
    load_vec<T, VW>(x + e, f);
    const float2* ss = scale_shift + n * C + c;
#pragma unroll
    for (int j = 0; j < VW; ++j) f[j] = gn_value(f[j], ss[j], silu != 0);
    store_vec<T, VW>(out + e, f);
  }
}

template <typename T, int VW>
void launch_stats_typed(const GroupNormPlan& p, const void* x, const float* gamma, const float* beta, int N,
                        int64_t HW, int C, int groups, float eps, float* ws, cudaStream_t stream) {
  float2* partial = reinterpret_cast<float2*>(ws);
  float2* scale_shift = reinterpret_cast<float2*>(ws + p.partial_floats);
  gn_partial_kernel<T, VW><<<dim3(p.chunks, p.zs, N), kThreads, 0, stream>>>(
      static_cast<const T*>(x), partial, HW, C, p.cvb, p.rpi, p.rows_per_chunk, p.chunks);
  gn_finalize_kernel<<<N * groups, kThreads, 0, stream>>>(partial, scale_shift, gamma, beta, HW, C, groups, p.chunks,
                                                          p.rows_per_chunk, eps);
}

template <typename T, int VW>
void launch_typed(const GroupNormPlan& p, const void* x, void* out, const float* gamma, const float* beta, int N,
                  int64_t HW, int C, int groups, float eps, bool silu, float* ws, cudaStream_t stream) {
  launch_stats_typed<T, VW>(p, x, gamma, beta, N, HW, C, groups, eps, ws, stream);
  const float2* scale_shift = reinterpret_cast<const float2*>(ws + p.partial_floats);
  const int64_t vectors = (int64_t)N * HW * C / VW;
  gn_apply_kernel<T, VW><<<blocks_for(vectors), 256, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(out),
                                                                  scale_shift, HW, C, vectors, silu ? 1 : 0);
}

}  // namespace

GroupNormPlan plan_group_norm(int64_t N, int64_t HW, int64_t C, bool vec_ok, int num_sms) {
  GroupNormPlan p;
  p.vw = vec_ok && C % 8 == 0 ? 8 : 1;
  const int64_t cv = C / p.vw;
  p.cvb = (int)std::min<int64_t>(cv, p.vw == 8 ? 64 : 256);
  p.zs = (int)((cv + p.cvb - 1) / p.cvb);
  p.rpi = kThreads / p.cvb;
  // The chunking (and so the order in which a frame's statistics are merged) depends on the frame
  // shape only, never on N: a frame gets the same bits whatever else is in the batch (the
  // image-prompt cache drops a frame from the batch and must not change the others).
  const int64_t target = 2LL * std::max(num_sms, 1);
  const int64_t plan_frames = kPlanFrames;
  int64_t chunks = (target + plan_frames * p.zs - 1) / (plan_frames * p.zs);
  chunks = std::max<int64_t>(1, std::min(chunks, HW / 16));
  p.rows_per_chunk = (int)((HW + chunks - 1) / chunks);
  p.chunks = (int)((HW + p.rows_per_chunk - 1) / p.rows_per_chunk);
  p.partial_floats = N * p.chunks * C * 2;
  return p;
}

void launch_group_norm(DType dtype, const GroupNormPlan& plan, const void* x, void* out, const float* gamma,
                       const float* beta, int N, int64_t HW, int C, int groups, float eps, bool silu, float* workspace,
                       cudaStream_t stream) {
  if (N == 0 || HW == 0 || C == 0) return;
  if (plan.vw == 8) {
    INDETAIL_DISPATCH_HALF(dtype, T, (launch_typed<T, 8>(plan, x, out, gamma, beta, N, HW, C, groups, eps, silu, workspace, stream)));
  } else {
    INDETAIL_DISPATCH_HALF(dtype, T, (launch_typed<T, 1>(plan, x, out, gamma, beta, N, HW, C, groups, eps, silu, workspace, stream)));
  }
}

void launch_group_norm_stats(DType dtype, const GroupNormPlan& plan, const void* x, const float* gamma,
                             const float* beta, int N, int64_t HW, int C, int groups, float eps, float* workspace,
                             cudaStream_t stream) {
  if (N == 0 || HW == 0 || C == 0) return;
  if (plan.vw == 8) {
    INDETAIL_DISPATCH_HALF(dtype, T, (launch_stats_typed<T, 8>(plan, x, gamma, beta, N, HW, C, groups, eps, workspace, stream)));
  } else {
    INDETAIL_DISPATCH_HALF(dtype, T, (launch_stats_typed<T, 1>(plan, x, gamma, beta, N, HW, C, groups, eps, workspace, stream)));
  }
}

}  // namespace cuda
}  // namespace indetail
