// Hopper GEMM / implicit-GEMM convolution (see gemm_sm90.h for the contract).
//
// CTA = 3 warpgroups, persistent: CTA b takes work units b, b + grid, ... (unit = M tile x N tile
// x K slice, N tiles fastest so CTAs running together share the rows of x through L2).
//   warpgroup 0  producer: one thread streams the k-tiles of A and B with TMA into a 5-stage ring
//                (full[s]: 1 arrival + the stage's bytes; empty[s]: one arrival per consumer)
//   warpgroups 1, 2  consumers: rows [64w, 64w + 64) of the tile (normalised in place first when the
//                GEMM reads a norm's output: group_norm_conv2d, layer_norm_linear), 4 wgmma m64n160k16 per k-tile
//                from 128-byte-swizzled K-major shared tiles, one wgmma group kept in flight; a
//                stage is released once the group that read it has retired; then the epilogue
//                from registers (bias, per-frame bias, activation, residual, scale, GEGLU), or
//                the F32 partial tile to the split-K workspace.
// A is x viewed as a 4-D tensor (C, W, H, N): the M tile is a box of bn frames x bh rows x bw
// columns of output pixels (128 in all), and tap (ky, kx) of a 3x3 kernel is the same box moved by
// (kx - pad, ky - pad), so the implicit im2col is one TMA per k-tile with zero fill at the image
// border (and past the last channel). B is w viewed as (C, taps, rows, halves): halves = 2 splits
// GEGLU's [2F, K] weight into the a rows and the g rows of the same 80 features, so the tile's
// columns [0, 80) and [80, 160) pair up in the same thread.
//
// ptxas -v (sm_90a, CUDA 13.0, F16 and BF16 alike): 168 registers at launch (384 threads, 1 CTA
// per SM; setmaxnreg gives the producer 40 and the consumers 232), 0 bytes stack, 0 spills;
// 185,424 bytes of dynamic shared memory (5 stages x 36 KiB + barriers + alignment).
#include "gemm_sm90.h"

#include <algorithm>
#include <climits>

#include "../../../engine/core/error.h"
#include "../../cuda_check.h"
#include "../gemm_epilogue.cuh"
#include "../norm_apply.cuh"
#include "../smem_limit.h"
#include "ptx90.cuh"
#include "tma_map.h"

namespace indetail {
namespace cuda {

namespace {

constexpr int BM = kSm90Tile.bm, BN = kSm90Tile.bn, BK = kSm90Tile.bk;
constexpr int STAGES = 5, CONSUMERS = 2, THREADS = 128 * (1 + CONSUMERS);
constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2, STAGE_BYTES = A_BYTES + B_BYTES;
constexpr int BAR_OFFSET = STAGES * STAGE_BYTES;                  // full[s] then empty[s]
constexpr int SMEM_BYTES = BAR_OFFSET + 2 * STAGES * 8 + 1024;    // + alignment of the base to 1024
constexpr int ACC = BN / 2;                                       // F32 accumulators per consumer thread
static_assert(BK * 2 == 128, "a k-tile row is one 128-byte swizzle row");
static_assert(BM == 64 * CONSUMERS && BN % 16 == 0, "consumers own 64 rows each; GEGLU halves are whole n8 blocks");

// The output pixels one M tile covers: bn frames x bh rows x bw columns, 128 in all.
struct TileShape {
  int bw = 0, bh = 0, bn = 0;
};

struct Params {
  CUtensorMap map_a;  // x as (C, W, H, N), box (64, bw, bh, bn)
  CUtensorMap map_b;  // w as (C, taps, rows, halves), box (64, 1, BN / halves, halves)
  GemmArgs a;
  TileShape t;
  int tiles_x = 0, tiles_y = 0, m_tiles = 0, n_tiles = 0, units = 0, cblocks = 0, k_tiles = 0;
};

bool tile_shape(const GemmArgs& a, TileShape& t, std::string* why) {
  if (a.Ho == 1 || a.Wo >= BM) {
    t = {BM, 1, 1};
  } else if (BM % a.Wo == 0) {
    const int rows = BM / a.Wo;
    if (rows % a.Ho == 0) t = {a.Wo, a.Ho, rows / a.Ho};  // whole frames per tile
    else t = {a.Wo, rows, 1};
  } else {
    if (why) *why = "output width " + std::to_string(a.Wo) + " neither divides nor exceeds 128";
    return false;
  }
  return true;
}

sm90::TmaSpec spec_a(const GemmArgs& a, const TileShape& t) {
  sm90::TmaSpec s;
  s.base = a.x;
  s.rank = 4;
  const uint64_t dims[4] = {(uint64_t)a.C, (uint64_t)a.W, (uint64_t)a.H, (uint64_t)a.N};
  const uint32_t box[4] = {(uint32_t)BK, (uint32_t)t.bw, (uint32_t)t.bh, (uint32_t)t.bn};
  for (int d = 0; d < 4; ++d) {
    s.dims[d] = dims[d];
    s.box[d] = box[d];
  }
  s.strides[0] = (uint64_t)a.C * 2;
  s.strides[1] = s.strides[0] * a.W;
  s.strides[2] = s.strides[1] * a.H;
  s.swizzle = 128;
  return s;
}

sm90::TmaSpec spec_b(const GemmArgs& a) {
  const int halves = a.geglu ? 2 : 1, taps = a.KH * a.KW;
  sm90::TmaSpec s;
  s.base = a.w;
  s.rank = 4;
  s.dims[0] = (uint64_t)a.C;
  s.dims[1] = (uint64_t)taps;
  s.dims[2] = (uint64_t)(a.Nv / halves);
  s.dims[3] = (uint64_t)halves;
  s.strides[0] = (uint64_t)a.C * 2;
  s.strides[1] = (uint64_t)a.K * 2;
  s.strides[2] = s.strides[1] * s.dims[2];
  const uint32_t box[4] = {(uint32_t)BK, 1, (uint32_t)(BN / halves), (uint32_t)halves};
  for (int d = 0; d < 4; ++d) s.box[d] = box[d];
  s.swizzle = 128;
  return s;
}

// ---- device side ----------------------------------------------------------------------------------
struct UnitPos {
  int n_tile, split, kb_begin, kb_end, ox0, oy0, n0;
};

__device__ __forceinline__ UnitPos unit_pos(const Params& p, int u) {
  UnitPos q;
  q.split = u % p.a.splits;
  const int rest = u / p.a.splits;
  q.n_tile = rest % p.n_tiles;
  const int m_tile = rest / p.n_tiles;
  const int tx = m_tile % p.tiles_x, ty = (m_tile / p.tiles_x) % p.tiles_y, tn = m_tile / (p.tiles_x * p.tiles_y);
  q.ox0 = tx * p.t.bw;
  q.oy0 = ty * p.t.bh;
  q.n0 = tn * p.t.bn;
  q.kb_begin = q.split * p.a.k_tiles_per_split;
  q.kb_end = min(p.k_tiles, q.kb_begin + p.a.k_tiles_per_split);
  return q;
}

// Output row m of tile row r (false when r falls outside the output).
__device__ __forceinline__ bool tile_row(const Params& p, const UnitPos& q, int r, int& m) {
  const int ox = q.ox0 + r % p.t.bw, oy = q.oy0 + (r / p.t.bw) % p.t.bh, n = q.n0 + r / (p.t.bw * p.t.bh);
  if (ox >= p.a.Wo || oy >= p.a.Ho || n >= p.a.N) return false;
  m = (n * p.a.Ho + oy) * p.a.Wo + ox;
  return true;
}

__device__ __forceinline__ uint32_t full_bar(uint32_t sbase, int s) { return sbase + BAR_OFFSET + 8 * s; }
__device__ __forceinline__ uint32_t empty_bar(uint32_t sbase, int s) { return sbase + BAR_OFFSET + 8 * (STAGES + s); }

__device__ __forceinline__ void produce(const Params& p, uint32_t sbase) {
  sm90::tma_prefetch_map(&p.map_a);
  sm90::tma_prefetch_map(&p.map_b);
  const int cols = BN / (p.a.geglu ? 2 : 1);
  int it = 0;
  for (int u = blockIdx.x; u < p.units; u += gridDim.x) {
    const UnitPos q = unit_pos(p, u);
    for (int kb = q.kb_begin; kb < q.kb_end; ++kb, ++it) {
      const int s = it % STAGES;
      sm90::mbar_wait(empty_bar(sbase, s), ((it / STAGES) & 1) ^ 1);  // round 0 passes at once
      sm90::mbar_arrive_expect_tx(full_bar(sbase, s), STAGE_BYTES);
      const int tap = kb / p.cblocks, c0 = (kb - tap * p.cblocks) * BK;
      const int ky = tap / p.a.KW, kx = tap - ky * p.a.KW;
      const uint32_t st = sbase + s * STAGE_BYTES;
      sm90::tma_load_4d(st, &p.map_a, full_bar(sbase, s), c0, q.ox0 - p.a.pad + kx, q.oy0 - p.a.pad + ky, q.n0);
      sm90::tma_load_4d(st + A_BYTES, &p.map_b, full_bar(sbase, s), c0, tap, q.n_tile * cols, 0);
    }
  }
}

// Two values of a [*, n_out] row at column c (c even): one 32-bit access when the epilogue is
// vectorisable (n_out % 8 == 0, aligned tensors), else element by element.
template <typename T>
__device__ __forceinline__ void load_pair(const T* p, bool vec, bool two, float& v0, float& v1) {
  if (vec) {
    uint32_t u = *reinterpret_cast<const uint32_t*>(p);
    T h[2];
    memcpy(h, &u, 4);
    v0 = to_float(h[0]);
    v1 = to_float(h[1]);
  } else {
    v0 = to_float(p[0]);
    v1 = two ? to_float(p[1]) : 0.f;
  }
}

template <typename T>
__device__ __forceinline__ void store_pair(const Epilogue& ep, int m, int c, float a0, float a1, float g0, float g1) {
  const int64_t off = (int64_t)m * ep.n_out + c;
  const bool two = c + 1 < ep.n_out, vec = ep.vec != 0;
  float fb0 = 0.f, fb1 = 0.f, r0 = 0.f, r1 = 0.f;
  if (ep.frame_bias)
    load_pair(static_cast<const T*>(ep.frame_bias) + (int64_t)(m / ep.rows_per_frame) * ep.n_out + c, vec, two, fb0, fb1);
  if (ep.residual) load_pair(static_cast<const T*>(ep.residual) + off, vec, two, r0, r1);
  const T y0 = from_float<T>(epilogue_value(ep, c, a0, g0, fb0, r0));
  const T y1 = from_float<T>(two ? epilogue_value(ep, c + 1, a1, g1, fb1, r1) : 0.f);
  T* out = static_cast<T*>(ep.out) + off;
  if (vec) {
    const T h[2] = {y0, y1};
    uint32_t u;
    memcpy(&u, h, 4);
    *reinterpret_cast<uint32_t*>(out) = u;
  } else {
    out[0] = y0;
    if (two) out[1] = y1;
  }
}

// The consumer's 64 x BN accumulators (rows 64 * cw + ...) to the output or the workspace.
template <typename T>
__device__ __forceinline__ void store_tile(const Params& p, const UnitPos& q, int cw, int lt, const float (&acc)[ACC]) {
  const GemmArgs& a = p.a;
  const int warp = lt / 32, g = (lt % 32) / 4, qd = lt % 4;
  const int cols = a.geglu ? BN / 2 : BN, col0 = q.n_tile * cols;
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    int m;
    if (!tile_row(p, q, 64 * cw + 16 * warp + g + 8 * hr, m)) continue;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
      if (a.geglu && j >= BN / 16) break;
      const int c = col0 + 8 * j + 2 * qd, v = 4 * j + 2 * hr;
      const float a0 = acc[v], a1 = acc[v + 1];
      const float g0 = a.geglu ? acc[v + ACC / 2] : 0.f, g1 = a.geglu ? acc[v + 1 + ACC / 2] : 0.f;
      if (a.splits > 1) {
        float* row = a.workspace + ((int64_t)q.split * a.M + m) * a.ws_ld;
        if (a.geglu) {
          if (2 * c < a.Nv) *reinterpret_cast<float4*>(row + 2 * c) = make_float4(a0, g0, a1, g1);
        } else if (c < a.Nv) {
          *reinterpret_cast<float2*>(row + c) = make_float2(a0, a1);
        }
      } else if (c < a.ep.n_out) {
        store_pair<T>(a.ep, m, c, a0, a1, g0, g1);
      }
    }
  }
}

// The normalisation of the consumer's 64 rows of the A tile of k-tile kb, in place: GroupNorm
// (+SiLU) of the row's frame and channel or LayerNorm of the row (gn_value / ln_value, as the norm
// kernels compute them), and 0 where the tap reads the padding, a pixel past the input or a
// channel past C (the GEMM pads the normalised tensor). The writes are then made visible to wgmma
// (the async proxy) and the warpgroup meets before it reads them.
template <typename T>
__device__ __forceinline__ void normalize_rows(const Params& p, const UnitPos& q, int kb, uint32_t ta, int cw, int lt) {
  const GemmArgs& a = p.a;
  const int tap = kb / p.cblocks, c0 = (kb - tap * p.cblocks) * BK;
  const int ky = tap / a.KW, kx = tap - ky * a.KW;
  unsigned char* tile = dynamic_smem() + (ta - smem_u32(dynamic_smem()));
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int id = lt + 128 * j, rr = id / 8, cc = id % 8;  // row of the warpgroup's 64, 16-byte chunk
    const int r = 64 * cw + rr;
    const int ox = q.ox0 + r % p.t.bw, oy = q.oy0 + (r / p.t.bw) % p.t.bh, n = q.n0 + r / (p.t.bw * p.t.bh);
    const int ix = ox - a.pad + kx, iy = oy - a.pad + ky;
    const bool pixel = n < a.N && (unsigned)ix < (unsigned)a.W && (unsigned)iy < (unsigned)a.H;
    const int64_t pix = ((int64_t)n * a.H + iy) * a.W + ix;  // the row of x (meaningful when pixel)
    const float2 row_stats = a.norm_kind == kNormLayer && pixel ? a.norm[pix] : make_float2(0.f, 0.f);
    uint4* chunk = reinterpret_cast<uint4*>(tile + rr * 128 + ((cc ^ (rr % 8)) << 4));  // 128-byte swizzle
    T v[8];
    uint4 u = *chunk;
    memcpy(v, &u, 16);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const int c = c0 + cc * 8 + e;
      float y = 0.0f;
      if (pixel && c < a.C)
        y = a.norm_kind == kNormGroup
                ? gn_value(to_float(v[e]), a.norm[(int64_t)n * a.C + c], a.norm_silu != 0)
                : ln_value(to_float(v[e]), row_stats, a.norm_gamma[c], a.norm_beta[c]);
      v[e] = from_float<T>(y);
    }
    memcpy(&u, v, 16);
    *chunk = u;
  }
  sm90::fence_proxy_async();
  sm90::named_bar_sync(1 + cw, 128);
}

template <typename T>
__device__ __forceinline__ void consume(const Params& p, uint32_t sbase, int cw, int lt) {
  float acc[ACC];
  int it = 0;
  for (int u = blockIdx.x; u < p.units; u += gridDim.x) {
    const UnitPos q = unit_pos(p, u);
    const int nkb = q.kb_end - q.kb_begin;
    for (int i = 0; i < nkb; ++i, ++it) {
      const int s = it % STAGES;
      sm90::mbar_wait(full_bar(sbase, s), (it / STAGES) & 1);
      const uint32_t ta = sbase + s * STAGE_BYTES + cw * 64 * 128, tb = sbase + s * STAGE_BYTES + A_BYTES;
      if (p.a.norm_kind != kNormNone) normalize_rows<T>(p, q, q.kb_begin + i, ta, cw, lt);
      sm90::wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < BK / 16; ++ks)
        sm90::wgmma_ss<T, BN, 0>(acc, sm90::smem_desc(ta + 32 * ks, 128, 16, 1024),
                                 sm90::smem_desc(tb + 32 * ks, 128, 16, 1024), i > 0 || ks > 0);
      sm90::wgmma_commit();
      sm90::wgmma_wait<1>();  // the group of k-tile i - 1 has retired: its stage is free
      if (i > 0 && lt == 0) sm90::mbar_arrive(empty_bar(sbase, (it - 1) % STAGES));
    }
    sm90::wgmma_wait<0>();
    sm90::fence_regs(acc);
    if (lt == 0) sm90::mbar_arrive(empty_bar(sbase, (it - 1) % STAGES));
    store_tile<T>(p, q, cw, lt, acc);
  }
}

template <typename T>
__global__ void __launch_bounds__(THREADS, 1) gemm_sm90_kernel(const __grid_constant__ Params p) {
  const uint32_t sbase = (smem_u32(dynamic_smem()) + 1023u) & ~1023u;
  const int wg = threadIdx.x / 128, lt = threadIdx.x % 128;
  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; ++s) {
      sm90::mbar_init(full_bar(sbase, s), 1);
      sm90::mbar_init(empty_bar(sbase, s), CONSUMERS);
    }
    sm90::fence_barrier_init();
  }
  __syncthreads();
  if (wg == 0) {
    sm90::reg_dealloc<40>();
    if (lt == 0) produce(p, sbase);
    return;
  }
  sm90::reg_alloc<232>();
  consume<T>(p, sbase, wg - 1, lt);
}

template <typename T>
void launch_typed(const Params& p, unsigned grid, cudaStream_t stream) {
  allow_dynamic_smem(reinterpret_cast<const void*>(&gemm_sm90_kernel<T>), SMEM_BYTES);
  gemm_sm90_kernel<T><<<grid, THREADS, SMEM_BYTES, stream>>>(p);
}

}  // namespace

std::string sm90_gemm_problem(const GemmArgs& a) {
  if (a.stride != 1) return "stride " + std::to_string(a.stride);
  if (a.C % 8 != 0) return "input channels " + std::to_string(a.C) + " not a multiple of 8";
  if (a.geglu && a.Nv % 2 != 0) return "GEGLU with an odd number of weight rows";
  std::string why;
  TileShape t;
  if (!tile_shape(a, t, &why)) return why;
  why = sm90::tma_problem(spec_a(a, t));
  if (!why.empty()) return "x: " + why;
  why = sm90::tma_problem(spec_b(a));
  if (!why.empty()) return "w: " + why;
  return {};
}

int sm90_k_tiles(const GemmArgs& a) { return a.KH * a.KW * ((a.C + BK - 1) / BK); }

void launch_gemm_sm90(DType dtype, const GemmArgs& a, int num_sms, cudaStream_t stream) {
  if (a.M == 0 || a.Nv == 0) return;
  const std::string why = sm90_gemm_problem(a);
  if (!why.empty()) fail(ErrorKind::Internal, "sm_90 GEMM given a problem it does not take: ", why);
  Params p;
  p.a = a;
  tile_shape(a, p.t, nullptr);
  sm90::encode_tma(&p.map_a, spec_a(a, p.t));
  sm90::encode_tma(&p.map_b, spec_b(a));
  p.tiles_x = (a.Wo + p.t.bw - 1) / p.t.bw;
  p.tiles_y = (a.Ho + p.t.bh - 1) / p.t.bh;
  const int64_t m_tiles = (int64_t)p.tiles_x * p.tiles_y * ((a.N + p.t.bn - 1) / p.t.bn);
  p.n_tiles = (a.Nv + BN - 1) / BN;
  p.cblocks = (a.C + BK - 1) / BK;
  p.k_tiles = sm90_k_tiles(a);
  const int64_t units = m_tiles * p.n_tiles * a.splits;
  check_arg(units <= INT_MAX && a.splits >= 1 && a.k_tiles_per_split >= 1, "sm_90 GEMM: problem too large (M ", a.M,
            ", N ", a.Nv, ") or no split plan");
  p.m_tiles = (int)m_tiles;
  p.units = (int)units;
  const unsigned grid = (unsigned)std::max<int64_t>(1, std::min<int64_t>(units, std::max(num_sms, 1)));
  INDETAIL_DISPATCH_HALF(dtype, T, launch_typed<T>(p, grid, stream));
  if (a.splits > 1) launch_splitk_reduce(dtype, a, stream);
}

}  // namespace cuda
}  // namespace indetail
