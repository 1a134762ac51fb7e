// version 2: Ampere-style tensor-core implicit GEMM (also the path used on Hopper for now).
// (version 1 used 8 warps of 64 × 32: 192 bytes of ldmatrix per mma, more than the 128 bytes
// per clock shared memory delivers; 64 × 64 warp tiles need 128.)
//
// Tile 128 (M) × 128 (N) × 32 (K), 128 threads = 4 warps as 2 (M) × 2 (N), warp tile 64 × 64
// = 4 × 8 mma.sync.m16n8k16 (F16 or BF16 in, F32 accumulate). Operands go global -> shared with
// 16-byte cp.async in a 4-stage pipeline (one __syncthreads per K tile), shared -> registers with
// ldmatrix.x4. Shared rows are padded to 40 halves (80 bytes), which makes every ldmatrix phase
// hit 8 distinct 16-byte bank groups without a swizzle.
//
// A is never materialised: row m of A is output pixel (n, oy, ox) and column k is tap
// (ky, kx, ci) of the NHWC input, zero outside the image (implicit im2col). When C % 8 == 0 a
// 16-byte chunk of A never straddles a tap, so it is one cp.async; otherwise (C = 3 or 4 of
// the first convolutions, odd test shapes) the chunk is gathered element by element.
//
// After the K loop the F32 accumulators are staged through shared memory so the epilogue
// (bias, per-frame bias, activation, residual, scale, GEGLU) reads and writes whole 16-byte
// rows. With split-K each z-slice writes its F32 partial tile to a workspace instead and a
// second kernel sums the slices and runs the same epilogue.
#include <algorithm>
#include <climits>
#include <cmath>

#include "../../engine/core/error.h"
#include "../cuda_check.h"
#include "gemm_epilogue.cuh"
#include "implicit_gemm.h"
#include "ptx.cuh"
#include "smem_limit.h"
#include "vec.cuh"

namespace indetail {
namespace cuda {

namespace {

constexpr int BM = kGemmBM, BN = kGemmBN, BK = kGemmBK, STAGES = kGemmStages, THREADS = kGemmThreads;
constexpr int LDS = BK + 8;                     // shared row stride in halves (80 bytes)
constexpr int A_STAGE = BM * LDS;               // halves per stage
constexpr int B_STAGE = BN * LDS;
constexpr int STAGE = A_STAGE + B_STAGE;
constexpr int SMEM_BYTES = STAGES * STAGE * 2;  // 81920
constexpr int LDC = BN + 4;                     // floats per staged accumulator row
static_assert(BM * LDC * 4 <= SMEM_BYTES, "the accumulator staging must fit in the pipeline buffers");
// Warps tile the block 2 (M) x 2 (N); each warp owns 64 x 64 = 4 x 8 mma tiles.
constexpr int WARPS_N = 2, WM = 64, WN = 64, MT = WM / 16, NT = WN / 8;
// Loads: each pass fills ROWS rows of 4 16-byte chunks (BK = 32 halves) per operand.
constexpr int ROWS = THREADS / 4, PASSES = BM / ROWS;
static_assert(BK == 32 && BM == BN && BM % ROWS == 0, "the load mapping assumes 4 chunks per row");
static_assert((BM / WM) * (BN / WN) * 32 == THREADS && BN / WN == WARPS_N, "warps must cover the tile");
static_assert(NT % 2 == 0, "B fragments come in pairs of n-tiles");

// Loads up to 8 values of a [*, n_out] tensor row at column c (vectorised when allowed).
template <typename T>
__device__ __forceinline__ void load_row8(const T* p, float* f, int count, bool vec) {
  if (vec && count == 8) {
    load_vec<T, 8>(p, f);
  } else {
#pragma unroll
    for (int j = 0; j < 8; ++j) f[j] = j < count ? to_float(p[j]) : 0.0f;
  }
}

// The epilogue for output row m, columns [c, c + min(8, n_out - c)). va holds the accumulators
// (the `a` half with GEGLU), vg the `g` half (GEGLU only).
template <typename T>
__device__ __forceinline__ void finish_store(const Epilogue& ep, int m, int c, const float* va, const float* vg) {
  const int count = min(8, ep.n_out - c);
  const bool vec = ep.vec != 0;
  const int64_t off = (int64_t)m * ep.n_out + c;
  float fb[8], res[8];
  if (ep.frame_bias)
    load_row8(static_cast<const T*>(ep.frame_bias) + (int64_t)(m / ep.rows_per_frame) * ep.n_out + c, fb, count, vec);
  if (ep.residual) load_row8(static_cast<const T*>(ep.residual) + off, res, count, vec);
  float y[8];
#pragma unroll
  for (int j = 0; j < 8; ++j)
    y[j] = j < count ? epilogue_value(ep, c + j, va[j], vg[j], ep.frame_bias ? fb[j] : 0.0f, ep.residual ? res[j] : 0.0f)
                     : 0.0f;
  T* out = static_cast<T*>(ep.out) + off;
  if (vec && count == 8) {
    store_vec<T, 8>(out, y);
  } else {
#pragma unroll
    for (int j = 0; j < 8; ++j)
      if (j < count) out[j] = from_float<T>(y[j]);
  }
}

template <typename T>
__global__ void __launch_bounds__(THREADS) implicit_gemm_kernel(const GemmArgs a) {
  unsigned char* smem_raw = dynamic_smem();
  uint16_t* smem = reinterpret_cast<uint16_t*>(smem_raw);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int warp_m = warp / WARPS_N;  // rows warp_m*WM .. +WM-1
  const int warp_n = warp % WARPS_N;  // cols warp_n*WN .. +WN-1
  const int m0 = blockIdx.x * BM;
  const int n0 = blockIdx.y * BN;
  const int nk = (a.K + BK - 1) / BK;
  const int kt_begin = blockIdx.z * a.k_tiles_per_split;
  const int kt_end = min(nk, kt_begin + a.k_tiles_per_split);
  const int num_kt = kt_end - kt_begin;

  // Loads: thread t fills rows t/4 + ROWS*i (i < PASSES) of each operand tile, 8 halves at k offset 8*(t%4).
  const int lrow = tid >> 2;
  const int lk = (tid & 3) * 8;
  const uint16_t* x = static_cast<const uint16_t*>(a.x);
  const uint16_t* w = static_cast<const uint16_t*>(a.w);

  const uint16_t* a_img[PASSES];
  int a_iy0[PASSES], a_ix0[PASSES];
#pragma unroll
  for (int i = 0; i < PASSES; ++i) {
    const int m = m0 + lrow + ROWS * i;
    if (m < a.M) {
      const int hw = a.Ho * a.Wo;
      const int img = m / hw;
      const int r = m - img * hw;
      const int oy = r / a.Wo;
      const int ox = r - oy * a.Wo;
      a_img[i] = x + (int64_t)img * a.H * a.W * a.C;
      a_iy0[i] = oy * a.stride - a.pad;
      a_ix0[i] = ox * a.stride - a.pad;
    } else {  // rows past M read nothing: every tap is out of bounds
      a_img[i] = x;
      a_iy0[i] = -(1 << 29);
      a_ix0[i] = -(1 << 29);
    }
  }
  const uint16_t* b_row[PASSES];
  bool b_ok[PASSES];
#pragma unroll
  for (int i = 0; i < PASSES; ++i) {
    const int v = n0 + lrow + ROWS * i;
    b_ok[i] = v < a.Nv;
    const int wr = a.geglu ? ((v & 1) ? (a.Nv >> 1) + (v >> 1) : (v >> 1)) : v;
    b_row[i] = w + (int64_t)(b_ok[i] ? wr : 0) * a.K;
  }

  auto load_tile = [&](int stage, int kt) {
    uint16_t* As = smem + stage * STAGE;
    uint16_t* Bs = As + A_STAGE;
    const int k = kt * BK + lk;
    if (a.vec_a) {
      const int tap = k / a.C;
      const int ci = k - tap * a.C;
      const int ky = tap / a.KW;
      const int kx = tap - ky * a.KW;
#pragma unroll
      for (int i = 0; i < PASSES; ++i) {
        const int iy = a_iy0[i] + ky, ix = a_ix0[i] + kx;
        const bool ok = k < a.K && (unsigned)iy < (unsigned)a.H && (unsigned)ix < (unsigned)a.W;
        const uint16_t* src = ok ? a_img[i] + ((int64_t)iy * a.W + ix) * a.C + ci : x;
        cp_async16(smem_u32(As + (lrow + ROWS * i) * LDS + lk), src, ok);
      }
    } else {
#pragma unroll
      for (int i = 0; i < PASSES; ++i) {
        uint16_t v8[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const int kk = k + e;
          uint16_t val = 0;
          if (kk < a.K) {
            const int tap = kk / a.C;
            const int ci = kk - tap * a.C;
            const int ky = tap / a.KW;
            const int kx = tap - ky * a.KW;
            const int iy = a_iy0[i] + ky, ix = a_ix0[i] + kx;
            if ((unsigned)iy < (unsigned)a.H && (unsigned)ix < (unsigned)a.W)
              val = a_img[i][((int64_t)iy * a.W + ix) * a.C + ci];
          }
          v8[e] = val;
        }
        uint4 u;
        memcpy(&u, v8, 16);
        *reinterpret_cast<uint4*>(As + (lrow + ROWS * i) * LDS + lk) = u;
      }
    }
    if (a.vec_b) {
#pragma unroll
      for (int i = 0; i < PASSES; ++i) {
        const bool ok = b_ok[i] && k < a.K;
        cp_async16(smem_u32(Bs + (lrow + ROWS * i) * LDS + lk), ok ? b_row[i] + k : w, ok);
      }
    } else {
#pragma unroll
      for (int i = 0; i < PASSES; ++i) {
        uint16_t v8[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) v8[e] = (b_ok[i] && k + e < a.K) ? b_row[i][k + e] : (uint16_t)0;
        uint4 u;
        memcpy(&u, v8, 16);
        *reinterpret_cast<uint4*>(Bs + (lrow + ROWS * i) * LDS + lk) = u;
      }
    }
  };

  float acc[MT][NT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;

  // Prologue: tiles 0 .. STAGES-2 in flight (one commit group each, empty past the end).
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < num_kt) load_tile(s, kt_begin + s);
    cp_async_commit();
  }

  for (int i = 0; i < num_kt; ++i) {
    // Groups committed so far: STAGES-1+i. Leaving STAGES-2 pending means tile i has landed;
    // the barrier publishes it to every warp and retires all reads of the stage refilled below.
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    const int next = i + STAGES - 1;
    if (next < num_kt) load_tile(next % STAGES, kt_begin + next);
    cp_async_commit();

    const uint16_t* As = smem + (i % STAGES) * STAGE;
    const uint16_t* Bs = As + A_STAGE;
#pragma unroll
    for (int ks = 0; ks < BK; ks += 16) {
      uint32_t af[MT][4];
      uint32_t bfr[NT][2];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        // lanes 0-15: rows 0-15 at k, lanes 16-31: rows 0-15 at k+8 -> a0..a3 of m16n8k16
        const int row = warp_m * WM + mt * 16 + (lane & 15);
        const int col = ks + (lane >> 4) * 8;
        ldmatrix_x4(af[mt], smem_u32(As + row * LDS + col));
      }
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        // matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
        const int row = warp_n * WN + np * 16 + (lane & 7) + ((lane >> 4) << 3);
        const int col = ks + ((lane >> 3) & 1) * 8;
        uint32_t r[4];
        ldmatrix_x4(r, smem_u32(Bs + row * LDS + col));
        bfr[2 * np][0] = r[0];
        bfr[2 * np][1] = r[1];
        bfr[2 * np + 1][0] = r[2];
        bfr[2 * np + 1][1] = r[3];
      }
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mma16816<T>(acc[mt][nt], af[mt], bfr[nt]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();

  // Stage the accumulators: c0,c1 at (row lane/4, cols 2*(lane%4) + {0,1}), c2,c3 at row + 8.
  float* Cs = reinterpret_cast<float*>(smem_raw);
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int r = warp_m * WM + mt * 16 + (lane >> 2);
      const int c = warp_n * WN + nt * 8 + (lane & 3) * 2;
      *reinterpret_cast<float2*>(Cs + r * LDC + c) = make_float2(acc[mt][nt][0], acc[mt][nt][1]);
      *reinterpret_cast<float2*>(Cs + (r + 8) * LDC + c) = make_float2(acc[mt][nt][2], acc[mt][nt][3]);
    }
  __syncthreads();

  if (a.splits > 1) {
    float* ws = a.workspace + (int64_t)blockIdx.z * a.M * a.ws_ld;
    for (int g = tid; g < BM * BN / 8; g += THREADS) {
      const int r = g / (BN / 8);
      const int c8 = (g % (BN / 8)) * 8;
      const int m = m0 + r, v = n0 + c8;
      if (m >= a.M || v >= a.Nv) continue;
      const float* src = Cs + r * LDC + c8;
      float4* dst = reinterpret_cast<float4*>(ws + (int64_t)m * a.ws_ld + v);
      dst[0] = make_float4(src[0], src[1], src[2], src[3]);
      dst[1] = make_float4(src[4], src[5], src[6], src[7]);
    }
    return;
  }

  const int cols = a.geglu ? BN / 2 : BN;  // output columns of this tile
  const int c_base = a.geglu ? n0 / 2 : n0;
  const int groups_per_row = cols / 8;
  for (int g = tid; g < BM * groups_per_row; g += THREADS) {
    const int r = g / groups_per_row;
    const int cg = (g % groups_per_row) * 8;
    const int m = m0 + r, c = c_base + cg;
    if (m >= a.M || c >= a.ep.n_out) continue;
    float va[8], vg[8];
    const float* src = Cs + r * LDC;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      if (a.geglu) {
        va[j] = src[(cg + j) * 2];
        vg[j] = src[(cg + j) * 2 + 1];
      } else {
        va[j] = src[cg + j];
        vg[j] = 0.0f;
      }
    }
    finish_store<T>(a.ep, m, c, va, vg);
  }
}

// Sums the split-K partials of one row group and runs the epilogue.
template <typename T>
__global__ void splitk_reduce_kernel(const GemmArgs a) {
  const int groups_per_row = (a.ep.n_out + 7) / 8;
  const int64_t total = (int64_t)a.M * groups_per_row;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int m = (int)(idx / groups_per_row);
    const int c = (int)(idx % groups_per_row) * 8;
    const int count = min(8, a.ep.n_out - c);
    float va[8], vg[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) va[j] = vg[j] = 0.0f;
    for (int s = 0; s < a.splits; ++s) {
      const float* row = a.workspace + ((int64_t)s * a.M + m) * a.ws_ld;
      if (a.geglu) {
        if (count == 8) {  // virtual columns 2c .. 2c+15, 64-byte aligned
          const float4* p = reinterpret_cast<const float4*>(row + 2 * c);
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            float4 v = p[q];
            va[2 * q] += v.x;
            vg[2 * q] += v.y;
            va[2 * q + 1] += v.z;
            vg[2 * q + 1] += v.w;
          }
        } else {
#pragma unroll
          for (int j = 0; j < 8; ++j)
            if (j < count) {
              va[j] += row[2 * (c + j)];
              vg[j] += row[2 * (c + j) + 1];
            }
        }
      } else {
        if (count == 8) {
          const float4* p = reinterpret_cast<const float4*>(row + c);
          float4 v0 = p[0], v1 = p[1];
          va[0] += v0.x; va[1] += v0.y; va[2] += v0.z; va[3] += v0.w;
          va[4] += v1.x; va[5] += v1.y; va[6] += v1.z; va[7] += v1.w;
        } else {
#pragma unroll
          for (int j = 0; j < 8; ++j)
            if (j < count) va[j] += row[c + j];
        }
      }
    }
    finish_store<T>(a.ep, m, c, va, vg);
  }
}

template <typename T>
void launch_reduce_typed(const GemmArgs& a, cudaStream_t stream) {
  const int64_t groups = (int64_t)a.M * ((a.ep.n_out + 7) / 8);
  splitk_reduce_kernel<T><<<blocks_for(groups), 256, 0, stream>>>(a);
}

template <typename T>
void launch_typed(const GemmArgs& a, cudaStream_t stream) {
  allow_dynamic_smem(reinterpret_cast<const void*>(&implicit_gemm_kernel<T>), SMEM_BYTES);
  const int64_t m_tiles = (a.M + BM - 1) / BM;
  const int64_t n_tiles = (a.Nv + BN - 1) / BN;
  check_arg(m_tiles <= INT_MAX && n_tiles <= 65535 && a.splits <= 65535, "implicit GEMM: problem too large (M ", a.M,
            ", N ", a.Nv, ")");
  dim3 grid((unsigned)m_tiles, (unsigned)n_tiles, (unsigned)a.splits);
  implicit_gemm_kernel<T><<<grid, THREADS, SMEM_BYTES, stream>>>(a);
  if (a.splits > 1) launch_reduce_typed<T>(a, stream);
}

}  // namespace

void launch_splitk_reduce(DType dtype, const GemmArgs& a, cudaStream_t stream) {
  INDETAIL_DISPATCH_HALF(dtype, T, launch_reduce_typed<T>(a, stream));
}

// Split-K model: a tile of the whole K takes one "unit"; with s slices `tiles*s` blocks of 1/s
// units run in ceil(tiles*s / SMs) waves, plus the F32 workspace round trip (8 bytes per
// output element per slice) costed against the tile's math (2K flops per element) at a
// ~130 flop/byte machine balance: ≈ tiles/SMs · 500·s/K units.
SplitPlan plan_split_k(int M, int Nv, int K, int num_sms, GemmTile tile, int k_tiles) {
  SplitPlan p;
  const int nk = k_tiles > 0 ? k_tiles : (K + tile.bk - 1) / tile.bk;
  p.k_tiles_per_split = nk;
  p.ws_ld = (Nv + 7) / 8 * 8;
  const int64_t tiles = (int64_t)((M + tile.bm - 1) / tile.bm) * ((Nv + tile.bn - 1) / tile.bn);
  if (num_sms <= 0 || nk < 8 || tiles >= 2LL * num_sms) return p;
  double best = std::ceil((double)tiles / num_sms);
  int best_s = 1;
  const int max_s = std::min(32, nk / 4);
  for (int s = 2; s <= max_s; ++s) {
    const int kps = (nk + s - 1) / s;
    if ((nk + kps - 1) / kps != s) continue;  // some slice would be empty
    const double waves = std::ceil((double)tiles * s / num_sms) / s;
    const double cost = waves + (double)tiles / num_sms * 500.0 * s / K + 0.02;
    if (cost < best) {
      best = cost;
      best_s = s;
    }
  }
  if (best_s > 1) {
    p.k_tiles_per_split = (nk + best_s - 1) / best_s;
    p.splits = (nk + p.k_tiles_per_split - 1) / p.k_tiles_per_split;
  }
  return p;
}

SplitPlan plan_split_k_per_frame(int64_t rows_per_frame, int Nv, int K, int num_sms, GemmTile tile, int k_tiles) {
  const int64_t rows = std::min<int64_t>(rows_per_frame * kSplitPlanFrames, INT32_MAX);
  return plan_split_k((int)rows, Nv, K, num_sms, tile, k_tiles);
}

void launch_implicit_gemm(DType dtype, const GemmArgs& a, cudaStream_t stream) {
  if (a.M == 0 || a.Nv == 0) return;
  check_arg(a.norm_kind == kNormNone, "implicit GEMM: the mma.sync kernel has no normalisation prologue");
  INDETAIL_DISPATCH_HALF(dtype, T, launch_typed<T>(a, stream));
}

}  // namespace cuda
}  // namespace indetail
