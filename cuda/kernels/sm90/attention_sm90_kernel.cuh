// The Hopper attention kernel (see attention_sm90.h), included by one translation unit per head
// dim (attention_sm90_d<D>.cu).
//
// CTA = 3 warpgroups for 128 queries of one (frame, head):
//   warpgroup 0  producer: one thread loads the Q tile once, then streams the key segments' K and V
//                tiles (BC keys, every 64 head-dim columns a 128-byte-swizzled TMA box) through a
//                2-stage ring (full[s]: 1 arrival + bytes; empty[s]: one arrival per consumer).
//                Segment 0 is the reference's keys (a frame of k/v, or of the cache k_ref/v_ref) or
//                the frame's own; segment 1 the own keys after a reference (attn_segments, the
//                policy the flash kernel reads). Causal own keys stop at the tile's last query.
//   warpgroups 1, 2  consumers, 64 queries each: S = Q K^T (wgmma, K-major Q and K, K = D rounded
//                to 16), masks (keys past the segment, causal), online softmax in the log2 domain
//                (row max and sum over the 4 threads of a row), P re-packed in registers as the A
//                fragments of O += P V (wgmma with A from registers, V MN-major). The two consumer
//                warpgroups run independently, so one's softmax overlaps the other's tensor-core
//                work. Stratified attention finishes segment 0 (normalised, times w_ref) into a
//                per-thread shared-memory stash and restarts m, l, O for the own keys.
// Head dims below a multiple of 64 read zeros past D (TMA fills columns outside the tensor).
// ptxas -v (sm_90a, CUDA 13.0), D = 40 / 64 / 80 / 160: 168 registers at launch (384 threads, one
// CTA per SM; setmaxnreg gives the producer 40 and the consumers 232), 0 bytes stack, 0 spills.
// Shared memory: Q + 2 stages of K and V + the stratified stash (128 x D floats) + barriers:
// 103,464 / 115,752 / 140,328 / 230,440 bytes (the sm_90 limit is 232,448).
#pragma once
#include <cuda_fp16.h>

#include <cmath>

#include "../attention_keys.cuh"
#include "../attention_mma.cuh"
#include "../smem_limit.h"
#include "attention_sm90.h"
#include "ptx90.cuh"

namespace indetail {
namespace cuda {

template <int D>
struct AttnSm90Shape {
  static constexpr int kAtoms = (D + 63) / 64;      // 64-column (128-byte) swizzle atoms per row
  static constexpr int kKSteps = (D + 15) / 16;     // k16 steps of S = Q K^T
  static constexpr int kBR = 128, kBC = sm90_attention_keys_per_tile(D), kStages = 2;
  static constexpr int kQBytes = kBR * 128 * kAtoms;
  static constexpr int kKVBytes = kBC * 128 * kAtoms;  // one of K or V
  static constexpr int kStageBytes = 2 * kKVBytes;
  static constexpr int kStashOffset = kQBytes + kStages * kStageBytes;
  static constexpr int kBarOffset = kStashOffset + kBR * D * 4;  // q, full[2], empty[2]
  static constexpr int kSmemBytes = kBarOffset + 5 * 8 + 1024;  // + alignment of the base to 1024
  static constexpr int kThreads = 384;
  static_assert(D % 8 == 0 && D <= 256, "wgmma N = head dim: a multiple of 8 up to 256");
};

// The key tiles of one segment: the map, the frame, the keys, whether they are the causal own keys.
struct AttnSeg {
  int len, frame, tiles;
  bool cache, causal;
};

template <int D>
__device__ __forceinline__ AttnSeg attn_seg(const AttnArgs& a, const AttnSegments& g, int seg, int b, int q0) {
  using S = AttnSm90Shape<D>;
  AttnSeg s;
  const bool own = seg == 1 || g.ref < 0;
  s.len = seg == 0 ? g.len0 : g.len1;
  s.frame = own ? b : g.ref;
  s.cache = seg == 0 && g.cache;
  s.causal = own && a.causal != 0;
  const int keys = s.causal ? min(s.len, q0 + S::kBR) : s.len;  // causal: no key past the last query
  s.tiles = keys > 0 ? (keys + S::kBC - 1) / S::kBC : 0;
  return s;
}

template <int D>
__device__ __forceinline__ void attn_produce(const AttnSm90Params& p, uint32_t sbase, int b, int h, int q0) {
  using S = AttnSm90Shape<D>;
  const uint32_t bars = sbase + S::kBarOffset;
  sm90::mbar_arrive_expect_tx(bars, S::kQBytes);
  for (int at = 0; at < S::kAtoms; ++at) sm90::tma_load_4d(sbase + at * S::kBR * 128, &p.q, bars, 64 * at, h, q0, b);
  const AttnSegments g = attn_segments(p.a, b);
  int it = 0;
  for (int seg = 0; seg < 2; ++seg) {
    const AttnSeg s = attn_seg<D>(p.a, g, seg, b, q0);
    const CUtensorMap* mk = s.cache ? &p.kr : &p.k;
    const CUtensorMap* mv = s.cache ? &p.vr : &p.v;
    for (int t = 0; t < s.tiles; ++t, ++it) {
      const int st = it % S::kStages;
      const uint32_t full = bars + 8 + 8 * st, empty = bars + 24 + 8 * st;
      sm90::mbar_wait(empty, ((it / S::kStages) & 1) ^ 1);
      sm90::mbar_arrive_expect_tx(full, S::kStageBytes);
      const uint32_t sk = sbase + S::kQBytes + st * S::kStageBytes, sv = sk + S::kKVBytes;
      for (int at = 0; at < S::kAtoms; ++at) {
        sm90::tma_load_4d(sk + at * S::kBC * 128, mk, full, 64 * at, h, t * S::kBC, s.frame);
        sm90::tma_load_4d(sv + at * S::kBC * 128, mv, full, 64 * at, h, t * S::kBC, s.frame);
      }
    }
  }
}

// The running softmax state of one consumer thread: rows g and g + 8 of its warp's 16.
template <int D>
struct AttnRows {
  float m[2], l[2];
  float o[D / 2];
  __device__ __forceinline__ void reset() {
    m[0] = m[1] = -INFINITY;
    l[0] = l[1] = 0.f;
#pragma unroll
    for (int v = 0; v < D / 2; ++v) o[v] = 0.f;
  }
  // Normalises o by the row sums (summed over the 4 threads of each row).
  __device__ __forceinline__ void finish() {
    float inv[2];
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      float l_row = l[hr];
      l_row += __shfl_xor_sync(0xffffffffu, l_row, 1);
      l_row += __shfl_xor_sync(0xffffffffu, l_row, 2);
      inv[hr] = l_row > 0.f ? 1.f / l_row : 0.f;
    }
#pragma unroll
    for (int v = 0; v < D / 2; ++v) o[v] *= inv[(v >> 1) & 1];
  }
};

// One key tile: S = Q K^T, masks, online softmax, O += P V. qi: the thread's two query rows.
template <typename T, int D>
__device__ __forceinline__ void attn_tile(const AttnArgs& a, AttnRows<D>& r, uint32_t sq, uint32_t sk, uint32_t sv,
                                          int key0, const AttnSeg& s, const int (&qi)[2], int lane) {
  using S = AttnSm90Shape<D>;
  constexpr int BC = S::kBC;
  float sc[BC / 2];
  sm90::wgmma_fence();
#pragma unroll
  for (int ks = 0; ks < S::kKSteps; ++ks) {
    const uint32_t off = (ks % 4) * 32;
    sm90::wgmma_ss<T, BC, 0>(sc, sm90::smem_desc(sq + (ks / 4) * S::kBR * 128 + off, 128, 16, 1024),
                             sm90::smem_desc(sk + (ks / 4) * BC * 128 + off, 128, 16, 1024), ks > 0);
  }
  sm90::wgmma_commit();
  sm90::wgmma_wait<0>();
  sm90::fence_regs(sc);
  // Scores in the log2 domain, masked; the new row maxima.
  const int q4 = lane & 3;
  float mx[2] = {r.m[0], r.m[1]};
#pragma unroll
  for (int v = 0; v < BC / 2; ++v) {
    const int key = key0 + 8 * (v >> 2) + 2 * q4 + (v & 1), hr = (v >> 1) & 1;
    const bool masked = key >= s.len || (s.causal && key > qi[hr]);
    sc[v] = masked ? -INFINITY : sc[v] * a.scale_log2;
    mx[hr] = fmaxf(mx[hr], sc[v]);
  }
  float corr[2], base[2];
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    mx[hr] = fmaxf(mx[hr], __shfl_xor_sync(0xffffffffu, mx[hr], 1));
    mx[hr] = fmaxf(mx[hr], __shfl_xor_sync(0xffffffffu, mx[hr], 2));
    base[hr] = mx[hr] == -INFINITY ? 0.f : mx[hr];  // a row with no key yet keeps zeros
    corr[hr] = exp2f(r.m[hr] - base[hr]);
    r.m[hr] = mx[hr];
    r.l[hr] *= corr[hr];
  }
#pragma unroll
  for (int v = 0; v < D / 2; ++v) r.o[v] *= corr[(v >> 1) & 1];
  // P = exp2(s - max) as the A fragments of P V: k16 block j, register i = values 8j + 2i, +1.
  uint32_t pf[BC / 16][4];
#pragma unroll
  for (int j = 0; j < BC / 16; ++j)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int v = 8 * j + 2 * i, hr = i & 1;
      const float p0 = exp2f(sc[v] - base[hr]), p1 = exp2f(sc[v + 1] - base[hr]);
      r.l[hr] += p0 + p1;
      pf[j][i] = mma::pack2<T>(p0, p1);
    }
  sm90::wgmma_fence();
#pragma unroll
  for (int j = 0; j < BC / 16; ++j)
    sm90::wgmma_rs<T, D, 1>(r.o, pf[j], sm90::smem_desc(sv + j * 16 * 128, 128, BC * 128, 1024), 1);
  sm90::wgmma_commit();
  sm90::wgmma_wait<0>();
  sm90::fence_regs(r.o);
}

template <typename T, int D>
__device__ __forceinline__ void attn_consume(const AttnSm90Params& p, uint32_t sbase, float* stash, int b, int h,
                                             int q0, int cw, int lt) {
  using S = AttnSm90Shape<D>;
  const AttnArgs& a = p.a;
  const uint32_t bars = sbase + S::kBarOffset;
  const int warp = lt / 32, lane = lt % 32, g = lane >> 2;
  const int row0 = q0 + 64 * cw + 16 * warp + g;
  const int qi[2] = {row0, row0 + 8};
  const uint32_t sq = sbase + cw * 64 * 128;
  sm90::mbar_wait(bars, 0);
  const AttnSegments sg = attn_segments(a, b);
  AttnRows<D> r;
  r.reset();
  int it = 0;
  for (int seg = 0; seg < 2; ++seg) {
    const AttnSeg s = attn_seg<D>(a, sg, seg, b, q0);
    for (int t = 0; t < s.tiles; ++t, ++it) {
      const int st = it % S::kStages;
      sm90::mbar_wait(bars + 8 + 8 * st, (it / S::kStages) & 1);
      const uint32_t sk = sbase + S::kQBytes + st * S::kStageBytes;
      attn_tile<T, D>(a, r, sq, sk, sk + S::kKVBytes, t * S::kBC, s, qi, lane);
      if (lt == 0) sm90::mbar_arrive(bars + 24 + 8 * st);
    }
    if (seg == 0 && sg.split) {  // stratified: the reference's share waits in the stash
      r.finish();
#pragma unroll
      for (int v = 0; v < D / 2; ++v) stash[v * 256 + 128 * cw + lt] = a.w_ref * r.o[v];
      r.reset();
    }
  }
  r.finish();
  if (sg.split) {
#pragma unroll
    for (int v = 0; v < D / 2; ++v) r.o[v] = a.w_self * r.o[v] + stash[v * 256 + 128 * cw + lt];
  }
  const int q4 = lane & 3;
  T* out = static_cast<T*>(a.out);
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    if (qi[hr] >= a.q_len) continue;
    T* row = out + (((int64_t)b * a.q_len + qi[hr]) * a.heads + h) * D;
#pragma unroll
    for (int j = 0; j < D / 8; ++j) {
      const int v = 4 * j + 2 * hr, c = 8 * j + 2 * q4;
      *reinterpret_cast<uint32_t*>(row + c) = mma::pack2<T>(r.o[v], r.o[v + 1]);
    }
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(384, 1) attention_sm90_kernel(const __grid_constant__ AttnSm90Params p) {
  using S = AttnSm90Shape<D>;
  const uint32_t sbase = (smem_u32(dynamic_smem()) + 1023u) & ~1023u;
  float* stash = reinterpret_cast<float*>(dynamic_smem() + (sbase - smem_u32(dynamic_smem())) + S::kStashOffset);
  const int wg = threadIdx.x / 128, lt = threadIdx.x % 128;
  const int q0 = blockIdx.x * S::kBR, h = blockIdx.y, b = blockIdx.z;
  const uint32_t bars = sbase + S::kBarOffset;
  if (threadIdx.x == 0) {
    sm90::mbar_init(bars, 1);
    for (int s = 0; s < S::kStages; ++s) {
      sm90::mbar_init(bars + 8 + 8 * s, 1);
      sm90::mbar_init(bars + 24 + 8 * s, 2);
    }
    sm90::fence_barrier_init();
  }
  __syncthreads();
  if (wg == 0) {
    sm90::reg_dealloc<40>();
    if (lt == 0) attn_produce<D>(p, sbase, b, h, q0);
    return;
  }
  sm90::reg_alloc<232>();
  attn_consume<T, D>(p, sbase, stash, b, h, q0, wg - 1, lt);
}

template <int D>
void launch_attention_sm90_d(const AttnSm90Params& p, cudaStream_t stream) {
  using S = AttnSm90Shape<D>;
  allow_dynamic_smem(reinterpret_cast<const void*>(&attention_sm90_kernel<__half, D>), S::kSmemBytes);
  const dim3 grid((unsigned)((p.a.q_len + S::kBR - 1) / S::kBR), (unsigned)p.a.heads, (unsigned)p.a.frames);
  attention_sm90_kernel<__half, D><<<grid, S::kThreads, S::kSmemBytes, stream>>>(p);
}

}  // namespace cuda
}  // namespace indetail
