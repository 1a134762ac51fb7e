// Kernels of the naive attention (attention_naive.cu): a batched tensor-core GEMM, a row
// softmax and the gather / concatenation copy. In a header so the CPU emulator can run them.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "attention.cuh"
#include "attention_mma.cuh"
#include "float_types.cuh"

namespace indetail {
namespace cuda {

constexpr int kNaiveGemmSmemBytes = 2 * (64 * 40 + 64 * 72) * 2;  // upper bound of both forms

// One operand of a batched GEMM: element (z = b * heads + h, row, col) is at
// ptr + b * frame + h * head + row * row_stride + col.
struct Operand {
  const void* ptr;
  int64_t frame, head, row;
};
struct OutOperand {
  void* ptr;
  int64_t frame, head, row;
};

// C[z] = alpha * A[z] (M x K, K contiguous) * B[z] where B is N x K (K contiguous, B_KN false:
// C = A B^T) or K x N (N contiguous, B_KN true: C = A B). 64x64 tiles, BK 32, 4 warps of 32x32,
// two cp.async stages. Needs K % 8 == 0 (and N % 8 == 0 when B_KN), 16-byte aligned rows.
// b_rows: rows of B that exist (N for A B^T, K for A B); the rest reads as zero.
template <typename T, bool B_KN>
__global__ void __launch_bounds__(128) naive_gemm_kernel(Operand A, Operand B, OutOperand C, int M, int N, int K,
                                                         int b_rows, int heads, float alpha) {
  constexpr int BM = 64, BN = 64, BK = 32, PA = BK + 8;
  constexpr int PB = B_KN ? BN + 8 : BK + 8;  // B tile: [BK][BN] when B_KN, else [BN][BK]
  constexpr int A_ELEMS = BM * PA, B_ELEMS = B_KN ? BK * PB : BN * PB;
#ifdef INDETAIL_CUDA_EMULATION  // the emulator checks shared addresses against the dynamic window
  T* smem = reinterpret_cast<T*>(dynamic_smem());
#else
  __shared__ __align__(16) T smem[2 * (A_ELEMS + B_ELEMS)];
#endif
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = warp >> 1, wn = warp & 1;  // warp tile position (32x32)
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int z = blockIdx.z, b = z / heads, h = z % heads;
  const T* a = static_cast<const T*>(A.ptr) + b * A.frame + h * A.head;
  const T* bb = static_cast<const T*>(B.ptr) + b * B.frame + h * B.head;
  constexpr int E = (int)sizeof(T);
  const uint32_t s0 = mma::smem_addr(smem);

  auto load = [&](int stage, int k0) {
    const uint32_t sa = s0 + stage * (A_ELEMS + B_ELEMS) * E, sb = sa + A_ELEMS * E;
    for (int idx = tid; idx < BM * (BK / 8); idx += 128) {  // A: 64 rows x 4 chunks
      const int r = idx >> 2, c = (idx & 3) * 8;
      const bool ok = m0 + r < M && k0 + c < K;
      mma::cp_async16(sa + (r * PA + c) * E, ok ? a + (int64_t)(m0 + r) * A.row + k0 + c : a, ok);
    }
    if (B_KN) {
      for (int idx = tid; idx < BK * (BN / 8); idx += 128) {  // B: 32 rows (k) x 8 chunks (n)
        const int r = idx >> 3, c = (idx & 7) * 8;
        const bool ok = k0 + r < b_rows && n0 + c < N;
        mma::cp_async16(sb + (r * PB + c) * E, ok ? bb + (int64_t)(k0 + r) * B.row + n0 + c : bb, ok);
      }
    } else {
      for (int idx = tid; idx < BN * (BK / 8); idx += 128) {  // B: 64 rows (n) x 4 chunks (k)
        const int r = idx >> 2, c = (idx & 3) * 8;
        const bool ok = n0 + r < b_rows && k0 + c < K;
        mma::cp_async16(sb + (r * PB + c) * E, ok ? bb + (int64_t)(n0 + r) * B.row + k0 + c : bb, ok);
      }
    }
    mma::cp_async_commit();
  };

  float acc[2][4][4] = {};
  const int ktiles = (K + BK - 1) / BK;
  load(0, 0);
  for (int kt = 0; kt < ktiles; ++kt) {
    if (kt + 1 < ktiles) {
      load((kt + 1) & 1, (kt + 1) * BK);
      mma::cp_async_wait<1>();
    } else {
      mma::cp_async_wait<0>();
    }
    __syncthreads();
    const uint32_t sa = s0 + (kt & 1) * (A_ELEMS + B_ELEMS) * E, sb = sa + A_ELEMS * E;
#pragma unroll
    for (int ks = 0; ks < BK / 16; ++ks) {
      uint32_t af[2][4];
#pragma unroll
      for (int mt = 0; mt < 2; ++mt)
        mma::ldmatrix_x4(af[mt], sa + ((wm * 32 + mt * 16 + (lane & 15)) * PA + ks * 16 + (lane >> 4) * 8) * E);
#pragma unroll
      for (int np = 0; np < 2; ++np) {  // pairs of 8-column n-tiles
        uint32_t bf[4];
        if (B_KN)
          mma::ldmatrix_x4_trans(
              bf, sb + ((ks * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * PB + wn * 32 + np * 16 + (lane >> 4) * 8) * E);
        else
          mma::ldmatrix_x4(
              bf, sb + ((wn * 32 + np * 16 + (lane & 7) + (lane >> 4) * 8) * PB + ks * 16 + ((lane >> 3) & 1) * 8) * E);
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) {
          mma::mma_16816<T>(acc[mt][2 * np], af[mt], bf[0], bf[1]);
          mma::mma_16816<T>(acc[mt][2 * np + 1], af[mt], bf[2], bf[3]);
        }
      }
    }
    __syncthreads();  // the stage is overwritten by the load two iterations on
  }

  T* c = static_cast<T*>(C.ptr) + b * C.frame + h * C.head;
  const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int row = m0 + wm * 32 + mt * 16 + g + hr * 8, col = n0 + wn * 32 + nt * 8 + 2 * t4;
        if (row < M && col < N)  // writes col + 1 too: callers leave room (even N or padded rows)
          *reinterpret_cast<uint32_t*>(c + (int64_t)row * C.row + col) =
              mma::pack2<T>(alpha * acc[mt][nt][2 * hr], alpha * acc[mt][nt][2 * hr + 1]);
      }
}

// P = softmax(S) over the first len[b] entries of each row (zero after), in place; rows of
// `pitch` elements (a multiple of 8), [frames * heads * rows_per_z rows]. One warp per row.
template <typename T>
union Pack8 {  // 16 bytes viewed as 8 values without pointer punning
  uint4 u;
  T x[8];
};

template <typename T>
__global__ void naive_softmax_kernel(T* s, int64_t nrows, int rows_per_frame, int pitch, const int32_t* len) {
  const int64_t row = (int64_t)blockIdx.x * 4 + (threadIdx.x >> 5);
  if (row >= nrows) return;
  const int lane = threadIdx.x & 31;
  const int n = len[row / rows_per_frame];
  T* p = s + row * pitch;
  float mx = -INFINITY;
  for (int j = lane * 8; j < pitch; j += 256) {
    Pack8<T> v;
    v.u = *reinterpret_cast<const uint4*>(p + j);
#pragma unroll
    for (int e = 0; e < 8; ++e)
      if (j + e < n) mx = fmaxf(mx, to_float(v.x[e]));
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  float sum = 0.f;
  for (int j = lane * 8; j < pitch; j += 256) {
    Pack8<T> v;
    v.u = *reinterpret_cast<const uint4*>(p + j);
#pragma unroll
    for (int e = 0; e < 8; ++e)
      if (j + e < n) sum += expf(to_float(v.x[e]) - mx);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const float inv = 1.f / sum;
  for (int j = lane * 8; j < pitch; j += 256) {
    Pack8<T> v;
    v.u = *reinterpret_cast<const uint4*>(p + j);
#pragma unroll
    for (int e = 0; e < 8; ++e) v.x[e] = from_float<T>(j + e < n ? expf(to_float(v.x[e]) - mx) * inv : 0.f);
    *reinterpret_cast<uint4*>(p + j) = v.u;
  }
}

// dst[b, j, :] (rows of C elements) = row j of frame b's key list: rows of src (frame src_frame[b]
// of src_base, src_len[b] rows) then, when own_len > 0, the own rows of frame b; zero after.
template <typename T>
__global__ void naive_gather_kernel(T* dst, int frames, int rows, int C, const T* src_batch, int64_t sb_frame,
                                    int64_t sb_row, const T* src_cache, int64_t sc_frame, int64_t sc_row,
                                    const int32_t* src_frame, const int32_t* src_cached, const int32_t* src_len,
                                    const T* own, int64_t own_frame, int64_t own_row, int own_len) {
  const int64_t total = (int64_t)frames * rows * C;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int c = (int)(i % C);
    const int64_t fr = i / C;
    const int j = (int)(fr % rows), b = (int)(fr / rows);
    const int n = src_len[b];
    T v = from_float<T>(0.f);
    if (j < n) {
      const int f = src_frame[b];
      v = src_cached[b] ? src_cache[f * sc_frame + j * sc_row + c] : src_batch[f * sb_frame + j * sb_row + c];
    } else if (j < n + own_len) {
      v = own[b * own_frame + (int64_t)(j - n) * own_row + c];
    }
    dst[i] = v;
  }
}

// out = w_ref * a + w_self * out
template <typename T>
__global__ void naive_combine_kernel(const T* a, T* out, int64_t n, float w_ref, float w_self) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = from_float<T>(w_ref * to_float(a[i]) + w_self * to_float(out[i]));
}

// Per frame, where the naive path's gathered keys come from: the reference part (the frame's
// own keys when it has no reference) and the lengths of each softmax. Host-side, the same for
// the device launch (attention_naive.cu) and the emulator (cuda/emulator/attention_test.cc).
struct NaiveKeyPlan {
  std::vector<int32_t> frame, cached, len;  // source frame, 1: from k_ref/v_ref, its rows
  std::vector<int32_t> own_len, cat_len;    // own keys; reference part + own keys
  int keys = 0;                             // rows per frame of the gathered K/V
};

inline NaiveKeyPlan naive_key_plan(const AttnArgs& a) {
  const int B = a.frames;
  NaiveKeyPlan p;
  p.frame.resize(B);
  p.cached.resize(B);
  p.len.resize(B);
  p.own_len.assign(B, a.k_len);
  p.cat_len.resize(B);
  for (int b = 0; b < B; ++b) {
    const int r = a.has_ref ? a.ref[b] : -1;
    p.frame[b] = r >= 0 ? r : b;
    p.cached[b] = r >= 0 && a.k_ref ? 1 : 0;
    p.len[b] = p.cached[b] ? a.ref_len : a.k_len;
    p.cat_len[b] = p.len[b] + a.k_len;
  }
  const std::vector<int32_t>& lens = a.mode == kAttnConcat ? p.cat_len : p.len;
  p.keys = B ? *std::max_element(lens.begin(), lens.end()) : 0;
  return p;
}

}  // namespace cuda
}  // namespace indetail
