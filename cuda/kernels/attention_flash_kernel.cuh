// The flash attention kernel (FlashAttention-2 forward structure), included by one translation unit
// per head-dim group (attention_flash_d<DMAX>.cu) to keep compile times down.
//
// CTA = 4 warps; each warp owns 16*MT query rows and keeps them for the whole key loop:
//   Q tile   [BR x DMAX]  loaded once (cp.async), then held as A fragments in registers
//                         (or re-read from shared memory with ldmatrix for DMAX 256)
//   K, V     [BC x DMAX]  one buffer each; V(t) streams in while S = Q K(t)^T and the softmax run,
//                         K(t+1) streams in while O += P V(t) runs (the FA2 pipeline)
//   S, P     registers (F32 accumulators, re-packed as F16/BF16 A fragments for P V)
//   O        registers, F32; row statistics m (running max, log2 domain) and l (partial row sums)
// Head dims below DMAX are padded inside the kernel: shared columns [D, DMAX) are zero and every
// k-step / dim-tile past D is skipped, so D = 40 costs 3 k-steps of QK^T and 5 dim-tiles of PV.
// Key segments (reference frame, own frame) are one flat tile sequence; stratified attention
// finishes the reference segment into a per-thread F32 stash (shared or global) and restarts m, l, O.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "../../engine/core/error.h"
#include "attention.cuh"
#include "attention_keys.cuh"
#include "attention_mma.cuh"

namespace indetail {
namespace cuda {

// Tile shape per head-dim group and variant (variant 0 is the default the op uses; the others
// exist to be measured by the attention benchmark). MT: 16-row tiles per warp, BC: keys per stage.
// Registers on sm_90 (ptxas -v, no spills): d64 v0 214, d64 v1 166, d96 198, d160 255, d256 221;
// with 128 threads that is 2 CTAs (8 warps) per SM, 3 for d64 v1.
template <int DMAX, int VARIANT>
struct FlashTraits;
template <>  // 8 warps/SM; half the shared-memory traffic per FLOP of v1
struct FlashTraits<64, 0> {
  static constexpr int kMT = 2, kBC = 32;
  static constexpr bool kQInRegs = true;
};
template <>  // 12 warps/SM
struct FlashTraits<64, 1> {
  static constexpr int kMT = 1, kBC = 64;
  static constexpr bool kQInRegs = true;
};
template <>
struct FlashTraits<96, 0> {
  static constexpr int kMT = 1, kBC = 64;
  static constexpr bool kQInRegs = true;
};
template <>
struct FlashTraits<160, 0> {
  static constexpr int kMT = 1, kBC = 64;
  static constexpr bool kQInRegs = true;
};
template <>  // Q re-read from shared memory: 64 more registers would not fit next to O
struct FlashTraits<256, 0> {
  static constexpr int kMT = 1, kBC = 32;
  static constexpr bool kQInRegs = false;
};

template <int DMAX, int VARIANT>
struct FlashShape {
  static constexpr int kWarps = 4, kThreads = 128;
  static constexpr int kMT = FlashTraits<DMAX, VARIANT>::kMT;
  static constexpr bool kQInRegs = FlashTraits<DMAX, VARIANT>::kQInRegs;
  static constexpr int kWarpRows = 16 * kMT;
  static constexpr int kBR = kWarpRows * kWarps;
  static constexpr int kBC = FlashTraits<DMAX, VARIANT>::kBC;
  // +8 elements (16 bytes) per row: the 8 row addresses of every ldmatrix hit distinct banks.
  static constexpr int kPitch = DMAX + 8;
  static constexpr int kKSteps = DMAX / 16;  // k-steps of S = Q K^T
  static constexpr int kDTiles = DMAX / 8;   // n-tiles of O = P V
  static constexpr int kKTiles = kBC / 8;    // n-tiles of S
  static constexpr int kChunks = DMAX / 8;   // 16-byte chunks per row
  static constexpr int kSmemElems = (kBR + 2 * kBC) * kPitch;
  static constexpr int kStashFloats = kBR * DMAX;  // per CTA
  static_assert(DMAX % 16 == 0 && kBC % 16 == 0, "tile sizes must be multiples of 16");
};

// rows [row0, row0 + ROWS) x chunks [0, dchunks) of a [len x *] matrix (row stride in elements)
// -> shared rows of `Pitch` elements; rows past len are zero-filled, columns past D untouched.
template <int ROWS, int DMAX, typename T>
__device__ __forceinline__ void flash_load_rows(uint32_t s, const T* g, int64_t row_stride, int row0, int len,
                                                int dchunks, int tid) {
  constexpr int C = DMAX / 8, P = DMAX + 8, N = ROWS * C;
#pragma unroll
  for (int i = 0; i < (N + 127) / 128; ++i) {
    const int idx = tid + i * 128;
    if (N % 128 == 0 || idx < N) {
      const int rr = idx / C, c = idx - rr * C;
      if (c < dchunks) {
        const int row = row0 + rr;
        const bool ok = row < len;
        const T* src = ok ? g + (int64_t)row * row_stride + c * 8 : g;
        mma::cp_async16(s + (rr * P + c * 8) * (int)sizeof(T), src, ok);
      }
    }
  }
}

template <typename T, int DMAX, int VARIANT>
__global__ void __launch_bounds__(128) flash_attention_kernel(const __grid_constant__ AttnArgs a) {
  using S = FlashShape<DMAX, VARIANT>;
  constexpr int MT = S::kMT, BR = S::kBR, BC = S::kBC, P = S::kPitch, WR = S::kWarpRows;
  constexpr int KS = S::kKSteps, NDT = S::kDTiles, NKT = S::kKTiles;

#ifdef INDETAIL_CUDA_EMULATION
  uint4* smem_raw = reinterpret_cast<uint4*>(dynamic_smem());
#else
  extern __shared__ uint4 smem_raw[];
#endif
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sV = sQ + (BR + BC) * P;
  constexpr int E = (int)sizeof(T);
  const uint32_t aQ = mma::smem_addr(smem_raw), aK = aQ + BR * P * E, aV = aK + BC * P * E;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;
  const int q0 = blockIdx.x * BR;
  const int h = blockIdx.y, b = blockIdx.z;
  const int D = a.head_dim;
  const int dchunks = D >> 3;

  // ---- key segments: seg 0 then seg 1 (len1 = 0: none) -----------------------------------
  const AttnKeys<T> keys = attn_keys<T>(a, b, h);
  const int r = keys.ref;
  const T* k0 = keys.k0;
  const T* v0 = keys.v0;
  const int64_t k0row = keys.k0row, v0row = keys.v0row;
  const int len0 = keys.len0, len1 = keys.len1;
  const T* k1 = keys.own_k;
  const T* v1 = keys.own_v;
  const bool split = keys.split;
  // The causal mask applies to the own keys (segment 0 without a reference, else segment 1);
  // own-key tiles past the CTA's last query are skipped.
  const bool causal0 = a.causal && r < 0;
  int n0 = (len0 + BC - 1) / BC;
  int n1 = (len1 + BC - 1) / BC;
  const int last = (q0 + BR - 1) / BC + 1;
  if (causal0) n0 = n0 < last ? n0 : last;
  if (a.causal && n1 > last) n1 = last;
  const int ntiles = n0 + n1;

  // ---- prologue: zero the padding columns, load Q and K(0) --------------------------------
  if (D < DMAX) {
    const uint4 z = make_uint4(0, 0, 0, 0);
    for (int i = tid; i < S::kSmemElems / 8; i += S::kThreads) smem_raw[i] = z;
    __syncthreads();
  }
  const T* qg = static_cast<const T*>(a.q) + b * a.q_frame + (int64_t)h * D;
  flash_load_rows<BR, DMAX>(aQ, qg, a.q_row, q0, a.q_len, dchunks, tid);
  mma::cp_async_commit();
  flash_load_rows<BC, DMAX>(aK, k0, k0row, 0, len0, dchunks, tid);
  mma::cp_async_commit();

  const int wrow = warp * WR;  // first row of this warp inside the tile
  // per-lane ldmatrix bases: Q/A rows (lane % 16, +8 columns for lanes 16..31); K/B rows
  // (lane % 8 + 8 * (lane / 16), +8 columns for lanes 8..15, 24..31); V/B^T rows
  // (lane % 8 + 8 * ((lane / 8) % 2), +8 columns for lanes 16..31)
  const uint32_t lQ = aQ + ((wrow + (lane & 15)) * P + (lane >> 4) * 8) * E;
  const uint32_t lK = aK + (((lane & 7) + (lane >> 4) * 8) * P + ((lane >> 3) & 1) * 8) * E;
  const uint32_t lV = aV + (((lane & 7) + ((lane >> 3) & 1) * 8) * P + (lane >> 4) * 8) * E;
  uint32_t qf[MT][S::kQInRegs ? KS : 1][4];
  if constexpr (S::kQInRegs) {
    mma::cp_async_wait<1>();  // Q has landed (K(0) may still be in flight)
    __syncthreads();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int ks = 0; ks < KS; ++ks)
        if (ks * 16 < D) mma::ldmatrix_x4(qf[mt][ks], lQ + (mt * 16 * P + ks * 16) * E);
  }

  float o[MT][NDT][4];
  float m[MT][2], l[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int dt = 0; dt < NDT; ++dt)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[mt][dt][e] = 0.f;
    m[mt][0] = m[mt][1] = -INFINITY;
    l[mt][0] = l[mt][1] = 0.f;
  }
  float* stash = nullptr;
  if (split) {
    const int64_t cta = ((int64_t)blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    stash = (a.stash ? a.stash + cta * S::kStashFloats : reinterpret_cast<float*>(sV + BC * P)) + warp * (WR * DMAX);
  }

  for (int t = 0; t < ntiles; ++t) {
    const bool first = t < n0;
    const int kstart = (first ? t : t - n0) * BC;
    const int len = first ? len0 : len1;
    const bool causal = first ? causal0 : a.causal != 0;

    mma::cp_async_wait<0>();  // K(t) has landed
    __syncthreads();           // ... for every thread; and every warp is done with V(t-1)
    flash_load_rows<BC, DMAX>(aV, first ? v0 : v1, first ? v0row : a.v_row, kstart, len, dchunks, tid);
    mma::cp_async_commit();

    // S = Q K^T (raw scores)
    float sc[MT][NKT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NKT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) sc[mt][nt][e] = 0.f;
#pragma unroll
    for (int ks = 0; ks < KS; ++ks) {
      if (ks * 16 >= D) continue;
      uint32_t qa[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        if constexpr (S::kQInRegs) {
#pragma unroll
          for (int e = 0; e < 4; ++e) qa[mt][e] = qf[mt][ks][e];
        } else {
          mma::ldmatrix_x4(qa[mt], lQ + (mt * 16 * P + ks * 16) * E);
        }
      }
#pragma unroll
      for (int kp = 0; kp < NKT / 2; ++kp) {
        if (kstart + kp * 16 >= len) continue;  // all 16 keys past the segment: masked below
        uint32_t kb[4];
        mma::ldmatrix_x4(kb, lK + (kp * 16 * P + ks * 16) * E);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma::mma_16816<T>(sc[mt][2 * kp], qa[mt], kb[0], kb[1]);
          mma::mma_16816<T>(sc[mt][2 * kp + 1], qa[mt], kb[2], kb[3]);
        }
      }
    }

    // mask keys past the segment and (causal) keys after the query
    if (kstart + BC > len || (causal && kstart + BC - 1 > q0)) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NKT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int key = kstart + nt * 8 + 2 * t4 + (e & 1);
            const int row = q0 + wrow + mt * 16 + g + (e >> 1) * 8;
            if (key >= len || (causal && key > row)) sc[mt][nt][e] = -INFINITY;
          }
    }

    // online softmax (log2 domain); rows g (hr = 0) and g + 8 (hr = 1) of each 16-row tile
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < NKT; ++nt) mx = fmaxf(mx, fmaxf(sc[mt][nt][2 * hr], sc[mt][nt][2 * hr + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m[mt][hr], mx * a.scale_log2);
        const float m_use = m_new == -INFINITY ? 0.f : m_new;  // a row with no visible key yet
        const float alpha = exp2f(m[mt][hr] - m_use);
        m[mt][hr] = m_new;
        float rs = 0.f;
#pragma unroll
        for (int nt = 0; nt < NKT; ++nt)
#pragma unroll
          for (int e = 2 * hr; e < 2 * hr + 2; ++e) {
            const float p = exp2f(fmaf(sc[mt][nt][e], a.scale_log2, -m_use));
            sc[mt][nt][e] = p;
            rs += p;
          }
        l[mt][hr] = l[mt][hr] * alpha + rs;
#pragma unroll
        for (int dt = 0; dt < NDT; ++dt)
          if (dt * 8 < D) {
            o[mt][dt][2 * hr] *= alpha;
            o[mt][dt][2 * hr + 1] *= alpha;
          }
      }

    mma::cp_async_wait<0>();  // V(t) has landed
    __syncthreads();           // ... for every thread; and every warp is done with K(t)
    if (t + 1 < ntiles) {
      const bool nfirst = t + 1 < n0;
      flash_load_rows<BC, DMAX>(aK, nfirst ? k0 : k1, nfirst ? k0row : a.k_row, (nfirst ? t + 1 : t + 1 - n0) * BC,
                                nfirst ? len0 : len1, dchunks, tid);
      mma::cp_async_commit();
    }

    // O += P V
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      if (kstart + kk * 16 >= len) continue;  // P is zero there
      uint32_t pa[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        pa[mt][0] = mma::pack2<T>(sc[mt][2 * kk][0], sc[mt][2 * kk][1]);
        pa[mt][1] = mma::pack2<T>(sc[mt][2 * kk][2], sc[mt][2 * kk][3]);
        pa[mt][2] = mma::pack2<T>(sc[mt][2 * kk + 1][0], sc[mt][2 * kk + 1][1]);
        pa[mt][3] = mma::pack2<T>(sc[mt][2 * kk + 1][2], sc[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < NDT / 2; ++dp) {
        if (dp * 16 >= D) continue;
        uint32_t vb[4];
        mma::ldmatrix_x4_trans(vb, lV + (kk * 16 * P + dp * 16) * E);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma::mma_16816<T>(o[mt][2 * dp], pa[mt], vb[0], vb[1]);
          if (dp * 16 + 8 < D) mma::mma_16816<T>(o[mt][2 * dp + 1], pa[mt], vb[2], vb[3]);
        }
      }
    }

    // stratified: the reference segment is complete -> stash w_ref * O_ref / l_ref, restart
    if (split && t == n0 - 1) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
          float lt = l[mt][hr];
          lt += __shfl_xor_sync(0xffffffffu, lt, 1);
          lt += __shfl_xor_sync(0xffffffffu, lt, 2);
          const float inv = lt > 0.f ? a.w_ref / lt : 0.f;
#pragma unroll
          for (int dt = 0; dt < NDT; ++dt)
            if (dt * 8 < D) {
#pragma unroll
              for (int e = 2 * hr; e < 2 * hr + 2; ++e) {
                stash[((mt * NDT + dt) * 4 + e) * 32 + lane] = o[mt][dt][e] * inv;
                o[mt][dt][e] = 0.f;
              }
            }
          m[mt][hr] = -INFINITY;
          l[mt][hr] = 0.f;
        }
    }
  }

  // ---- epilogue: normalise, (stratified) add the stash, stage in sQ, 16-byte stores --------
  const float w_own = split ? a.w_self : 1.f;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      float lt = l[mt][hr];
      lt += __shfl_xor_sync(0xffffffffu, lt, 1);
      lt += __shfl_xor_sync(0xffffffffu, lt, 2);
      const float inv = lt > 0.f ? w_own / lt : 0.f;
      const int row = wrow + mt * 16 + g + hr * 8;
#pragma unroll
      for (int dt = 0; dt < NDT; ++dt)
        if (dt * 8 < D) {
          float x0 = o[mt][dt][2 * hr] * inv, x1 = o[mt][dt][2 * hr + 1] * inv;
          if (split) {
            x0 += stash[((mt * NDT + dt) * 4 + 2 * hr) * 32 + lane];
            x1 += stash[((mt * NDT + dt) * 4 + 2 * hr + 1) * 32 + lane];
          }
          *reinterpret_cast<uint32_t*>(sQ + row * P + dt * 8 + 2 * t4) = mma::pack2<T>(x0, x1);
        }
    }
  __syncwarp();  // the warp reads back only its own rows
  const int64_t C = (int64_t)a.heads * D;
  T* og = static_cast<T*>(a.out) + (int64_t)b * a.q_len * C + (int64_t)h * D;
#pragma unroll
  for (int i = 0; i < WR * S::kChunks / 32; ++i) {
    const int idx = lane + i * 32;
    const int rr = idx / S::kChunks, c = idx - rr * S::kChunks;
    const int grow = q0 + wrow + rr;
    if (c < dchunks && grow < a.q_len)
      *reinterpret_cast<uint4*>(og + grow * C + c * 8) = *reinterpret_cast<const uint4*>(sQ + (wrow + rr) * P + c * 8);
  }
}

template <int DMAX, int VARIANT>
FlashConfig flash_variant_config() {
  using S = FlashShape<DMAX, VARIANT>;
  return FlashConfig{DMAX, VARIANT, S::kBR, S::kBC, S::kSmemElems * 2, S::kStashFloats * 4};
}

template <int DMAX, int VARIANT>
void launch_flash_variant(const AttnArgs& a, DType dtype, bool stash_in_smem, cudaStream_t stream) {
  using S = FlashShape<DMAX, VARIANT>;
  const bool smem_stash = a.mode == kAttnStratified && a.has_ref && stash_in_smem;
  const size_t smem = (size_t)S::kSmemElems * 2 + (smem_stash ? (size_t)S::kStashFloats * 4 : 0);
  const dim3 grid((unsigned)((a.q_len + S::kBR - 1) / S::kBR), (unsigned)a.heads, (unsigned)a.frames);
  auto launch = [&](auto kernel) {
    if (smem > 48 * 1024) {
      cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
      if (err != cudaSuccess) {
        cudaGetLastError();  // not sticky: clear it, report it
        fail(ErrorKind::Device, "attention: cannot reserve ", smem, " bytes of shared memory for head dim group ",
             DMAX, ": ", cudaGetErrorString(err));
      }
    }
    kernel<<<grid, S::kThreads, smem, stream>>>(a);
  };
  if (dtype == DType::F16)
    launch(flash_attention_kernel<__half, DMAX, VARIANT>);
  else
    launch(flash_attention_kernel<__nv_bfloat16, DMAX, VARIANT>);
}

template <int DMAX>
struct FlashVariants {
  static constexpr int kCount = 1;
};
template <>
struct FlashVariants<64> {
  static constexpr int kCount = 2;
};

template <int DMAX>
FlashConfig flash_group_config(int variant) {
  if constexpr (FlashVariants<DMAX>::kCount > 1) {
    if (variant == 1) return flash_variant_config<DMAX, 1>();
  }
  return flash_variant_config<DMAX, 0>();
}

template <int DMAX>
void launch_flash_group(const AttnArgs& a, DType dtype, bool stash_in_smem, int variant, cudaStream_t stream) {
  if constexpr (FlashVariants<DMAX>::kCount > 1) {
    if (variant == 1) return launch_flash_variant<DMAX, 1>(a, dtype, stash_in_smem, stream);
  }
  launch_flash_variant<DMAX, 0>(a, dtype, stash_in_smem, stream);
}

// Each attention_flash_d<DMAX>.cu instantiates its group here.
#define INDETAIL_FLASH_ATTENTION_GROUP(DMAX)                   \
  template FlashConfig flash_group_config<DMAX>(int variant); \
  template void launch_flash_group<DMAX>(const AttnArgs&, DType, bool, int, cudaStream_t);

}  // namespace cuda
}  // namespace indetail
