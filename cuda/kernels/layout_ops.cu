// version 1: one thread per 8-channel (16-byte) vector of the output when the channel counts
// and pointers allow it, per element otherwise; index arithmetic in 64 bits.
#include "../../engine/core/error.h"
#include "layout_ops.h"
#include "vec.cuh"

namespace indetail {
namespace cuda {

namespace {

// Copies V elements (16 bytes when V == 8) without converting.
template <typename T, int V>
__device__ __forceinline__ void copy_vec(T* dst, const T* src) {
  if constexpr (V == 8 && sizeof(T) == 2) {
    *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
  } else {
#pragma unroll
    for (int j = 0; j < V; ++j) dst[j] = src[j];
  }
}

template <typename T, int V>
__global__ void concat_kernel(const T* a, const T* b, T* out, int64_t rows, int64_t Ca, int64_t Cb) {
  const int64_t ct = Ca + Cb;
  const int64_t vec_per_row = ct / V;
  GRID_STRIDE(v, rows * vec_per_row) {
    const int64_t r = v / vec_per_row;
    const int64_t c = (v - r * vec_per_row) * V;
    const T* src = c < Ca ? a + r * Ca + c : b + r * Cb + (c - Ca);
    copy_vec<T, V>(out + r * ct + c, src);
  }
}

template <typename T, int V>
__global__ void upsample_kernel(const T* x, T* out, int64_t N, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                                int64_t C) {
  const int64_t cv = C / V;
  GRID_STRIDE(v, N * Ho * Wo * cv) {
    const int64_t c = (v % cv) * V;
    int64_t pix = v / cv;
    const int64_t ox = pix % Wo;
    pix /= Wo;
    const int64_t oy = pix % Ho;
    const int64_t n = pix / Ho;
    const int64_t sy = oy * H / Ho, sx = ox * W / Wo;
    copy_vec<T, V>(out + ((n * Ho + oy) * Wo + ox) * C + c, x + ((n * H + sy) * W + sx) * C + c);
  }
}

template <typename T, int V>
__global__ void embedding_kernel(const int32_t* ids, const T* table, T* out, int64_t tokens, int64_t C) {
  const int64_t cv = C / V;
  GRID_STRIDE(v, tokens * cv) {
    const int64_t t = v / cv;
    const int64_t c = (v - t * cv) * V;
    copy_vec<T, V>(out + t * C + c, table + (int64_t)ids[t] * C + c);
  }
}

void require_16bit(DType dtype) {
  check_arg(dtype == DType::F16 || dtype == DType::BF16, "expected an F16 or BF16 tensor, got ", dtype_name(dtype));
}

}  // namespace

void launch_concat_channels(DType dtype, const void* a, const void* b, void* out, int64_t rows, int64_t Ca,
                            int64_t Cb, cudaStream_t stream) {
  const int64_t n = rows * (Ca + Cb);
  if (n == 0) return;
  const bool vec = Ca % 8 == 0 && Cb % 8 == 0 && aligned16(a) && aligned16(b) && aligned16(out);
  require_16bit(dtype);
  {
    using T = uint16_t;  // pure data movement: F16 and BF16 share one instantiation
    const T* as = static_cast<const T*>(a);
    const T* bs = static_cast<const T*>(b);
    T* os = static_cast<T*>(out);
    if (vec) concat_kernel<T, 8><<<blocks_for(n / 8), 256, 0, stream>>>(as, bs, os, rows, Ca, Cb);
    else concat_kernel<T, 1><<<blocks_for(n), 256, 0, stream>>>(as, bs, os, rows, Ca, Cb);
  }
}

void launch_upsample_nearest(DType dtype, const void* x, void* out, int64_t N, int64_t H, int64_t W, int64_t Ho,
                             int64_t Wo, int64_t C, cudaStream_t stream) {
  const int64_t n = N * Ho * Wo * C;
  if (n == 0) return;
  const bool vec = C % 8 == 0 && aligned16(x) && aligned16(out);
  require_16bit(dtype);
  {
    using T = uint16_t;  // pure data movement: F16 and BF16 share one instantiation
    const T* xs = static_cast<const T*>(x);
    T* os = static_cast<T*>(out);
    if (vec) upsample_kernel<T, 8><<<blocks_for(n / 8), 256, 0, stream>>>(xs, os, N, H, W, Ho, Wo, C);
    else upsample_kernel<T, 1><<<blocks_for(n), 256, 0, stream>>>(xs, os, N, H, W, Ho, Wo, C);
  }
}

void launch_embedding(DType dtype, const int32_t* ids, const void* table, void* out, int64_t tokens, int64_t C,
                      cudaStream_t stream) {
  const int64_t n = tokens * C;
  if (n == 0) return;
  const bool vec = C % 8 == 0 && aligned16(table) && aligned16(out);
  require_16bit(dtype);
  {
    using T = uint16_t;  // pure data movement: F16 and BF16 share one instantiation
    const T* ts = static_cast<const T*>(table);
    T* os = static_cast<T*>(out);
    if (vec) embedding_kernel<T, 8><<<blocks_for(n / 8), 256, 0, stream>>>(ids, ts, os, tokens, C);
    else embedding_kernel<T, 1><<<blocks_for(n), 256, 0, stream>>>(ids, ts, os, tokens, C);
  }
}

}  // namespace cuda
}  // namespace indetail
