// The general attention kernel: one warp per query row, F32 on CUDA cores, keys one at a time
// with an online softmax. It takes what the flash kernel cannot: any row stride, column offset
// and alignment, head dims that are not multiples of 8 (the tiny test models: 4, 8) and head
// dims up to 512 (the VAE's single-head mid-block attention). Same policy semantics as the
// flash kernel (attention.cuh). Each lane owns head-dim elements lane, lane + 32, ...
#pragma once
#include "attention.cuh"
#include "attention_keys.cuh"
#include "attention_mma.cuh"
#include "float_types.cuh"

namespace indetail {
namespace cuda {

__device__ __forceinline__ float attn_warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T>
__global__ void __launch_bounds__(128) attention_simple_kernel(const __grid_constant__ AttnArgs a) {
  constexpr int DPL = kAttnSimpleMaxHeadDim / 32;  // head-dim elements per lane
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int i = blockIdx.x * 4 + warp;
  if (i >= a.q_len) return;  // whole warps only; no block-level barrier follows
  const int h = blockIdx.y, b = blockIdx.z, D = a.head_dim;

  const AttnKeys<T> keys = attn_keys<T>(a, b, h);
  const int r = keys.ref;
  const T *own_k = keys.own_k, *own_v = keys.own_v, *k0 = keys.k0, *v0 = keys.v0;
  const int64_t k0row = keys.k0row, v0row = keys.v0row;
  const int len0 = keys.len0, len1 = keys.len1;
  const bool split = keys.split;

  const T* qp = static_cast<const T*>(a.q) + b * a.q_frame + (int64_t)i * a.q_row + (int64_t)h * D;
  float q[DPL], acc[DPL], st[DPL];
#pragma unroll
  for (int j = 0; j < DPL; ++j) {
    const int d = lane + 32 * j;
    q[j] = d < D ? to_float(qp[d]) * a.scale_log2 : 0.f;
    acc[j] = 0.f;
    st[j] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int seg = 0; seg < 2; ++seg) {
    const T* kp = seg == 0 ? k0 : own_k;
    const T* vp = seg == 0 ? v0 : own_v;
    const int64_t krow = seg == 0 ? k0row : a.k_row, vrow = seg == 0 ? v0row : a.v_row;
    int end = seg == 0 ? len0 : len1;
    if (a.causal && (seg == 1 || r < 0)) end = end < i + 1 ? end : i + 1;  // the own keys only
    for (int j = 0; j < end; ++j) {
      const T* kr = kp + j * krow;
      float s = 0.f;
#pragma unroll
      for (int jj = 0; jj < DPL; ++jj) {
        const int d = lane + 32 * jj;
        if (d < D) s += q[jj] * to_float(kr[d]);
      }
      s = attn_warp_sum(s);
      const float m_new = fmaxf(m, s);
      const float alpha = exp2f(m - m_new);  // 0 for the first key (m = -inf)
      const float p = exp2f(s - m_new);
      l = l * alpha + p;
      m = m_new;
      const T* vr = vp + j * vrow;
#pragma unroll
      for (int jj = 0; jj < DPL; ++jj) {
        const int d = lane + 32 * jj;
        if (d < D) acc[jj] = acc[jj] * alpha + p * to_float(vr[d]);
      }
    }
    if (seg == 0 && split) {
      const float inv = l > 0.f ? a.w_ref / l : 0.f;
#pragma unroll
      for (int jj = 0; jj < DPL; ++jj) {
        st[jj] = acc[jj] * inv;
        acc[jj] = 0.f;
      }
      m = -INFINITY;
      l = 0.f;
    }
  }
  const float inv = l > 0.f ? (split ? a.w_self : 1.f) / l : 0.f;
  T* op = static_cast<T*>(a.out) + ((int64_t)b * a.q_len + i) * ((int64_t)a.heads * D) + (int64_t)h * D;
#pragma unroll
  for (int jj = 0; jj < DPL; ++jj) {
    const int d = lane + 32 * jj;
    if (d < D) op[d] = from_float<T>(acc[jj] * inv + st[jj]);
  }
}

}  // namespace cuda
}  // namespace indetail
