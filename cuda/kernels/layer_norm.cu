// version 1: one warp per row. When C % 8 == 0 and C <= 2048 the row is read once into
// registers (8 channels per lane and step, up to 8 steps): mean, then the sum of squared
// deviations from that mean (two-pass on registers, no cancellation), then the normalised row
// is written. Other widths take the same three passes from global memory (L1-resident row).
// The statistics-only variant stores (mean, rstd) per row instead, for a GEMM that normalises
// while it reads x (the same reductions, so the same bits).
#include "../../engine/core/error.h"
#include "layer_norm.h"
#include "norm_apply.cuh"
#include "vec.cuh"

namespace indetail {
namespace cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // 256 threads
constexpr int kMaxSteps = 8;      // 8 steps x 32 lanes x 8 channels = 2048

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// STATS: write (mean, rstd) of each row to stats instead of the normalised row to out.
template <typename T, bool STATS>
__global__ void __launch_bounds__(256) layer_norm_kernel(const T* __restrict__ x, T* __restrict__ out,
                                                         float2* __restrict__ stats, const float* __restrict__ gamma,
                                                         const float* __restrict__ beta, int64_t rows, int C,
                                                         float eps, int cached) {
  const int lane = threadIdx.x & 31;
  const int64_t row = (int64_t)blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;
  const T* xr = x + row * C;
  T* yr = out + row * C;
  const float inv_c = 1.0f / (float)C;
  if (cached) {
    const int nvec = C / 8;
    float v[kMaxSteps][8];
    float sum = 0.0f;
#pragma unroll
    for (int s = 0; s < kMaxSteps; ++s) {
      const int vi = s * 32 + lane;
      if (vi < nvec) {
        load_vec<T, 8>(xr + vi * 8, v[s]);
#pragma unroll
        for (int j = 0; j < 8; ++j) sum += v[s][j];
      }
    }
    const float mean = warp_sum(sum) * inv_c;
    float sq = 0.0f;
#pragma unroll
    for (int s = 0; s < kMaxSteps; ++s) {
      const int vi = s * 32 + lane;
      if (vi < nvec) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const float d = v[s][j] - mean;
          sq += d * d;
        }
      }
    }
    const float rstd = rsqrtf(warp_sum(sq) * inv_c + eps);
    if constexpr (STATS) {
      if (lane == 0) stats[row] = make_float2(mean, rstd);
    } else {
#pragma unroll
      for (int s = 0; s < kMaxSteps; ++s) {
        const int vi = s * 32 + lane;
        if (vi < nvec) {
          float y[8];
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const int c = vi * 8 + j;
            y[j] = ln_value(v[s][j], make_float2(mean, rstd), gamma[c], beta[c]);
          }
          store_vec<T, 8>(yr + vi * 8, y);
        }
      }
    }
  } else {
    float sum = 0.0f;
    for (int c = lane; c < C; c += 32) sum += to_float(xr[c]);
    const float mean = warp_sum(sum) * inv_c;
    float sq = 0.0f;
    for (int c = lane; c < C; c += 32) {
      const float d = to_float(xr[c]) - mean;
      sq += d * d;
    }
    const float rstd = rsqrtf(warp_sum(sq) * inv_c + eps);
    if constexpr (STATS) {
      if (lane == 0) stats[row] = make_float2(mean, rstd);
    } else {
      for (int c = lane; c < C; c += 32)
        yr[c] = from_float<T>(ln_value(to_float(xr[c]), make_float2(mean, rstd), gamma[c], beta[c]));
    }
  }
}

template <bool STATS>
void launch(DType dtype, const void* x, void* out, float2* stats, const float* gamma, const float* beta, int64_t rows,
            int C, float eps, cudaStream_t stream) {
  if (rows == 0 || C == 0) return;
  // The statistics pass reads rows into registers whenever x allows; the full kernel does too when
  // out is aligned (as the engine's tensors are), so both compute the same statistics.
  const int cached = C % 8 == 0 && C <= kMaxSteps * 32 * 8 && aligned16(x) && (STATS || aligned16(out)) ? 1 : 0;
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  check_arg(blocks <= 0x7fffffffLL, "layer_norm: too many rows (", rows, ")");
  INDETAIL_DISPATCH_HALF(dtype, T,
                         (layer_norm_kernel<T, STATS><<<(unsigned)blocks, 256, 0, stream>>>(
                             static_cast<const T*>(x), static_cast<T*>(out), stats, gamma, beta, rows, C, eps, cached)));
}

}  // namespace

void launch_layer_norm(DType dtype, const void* x, void* out, const float* gamma, const float* beta, int64_t rows,
                       int C, float eps, cudaStream_t stream) {
  launch<false>(dtype, x, out, nullptr, gamma, beta, rows, C, eps, stream);
}

void launch_layer_norm_stats(DType dtype, const void* x, float2* stats, int64_t rows, int C, float eps,
                             cudaStream_t stream) {
  launch<true>(dtype, x, nullptr, stats, nullptr, nullptr, rows, C, eps, stream);
}

}  // namespace cuda
}  // namespace indetail
