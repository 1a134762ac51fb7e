// Vector loads/stores of 1 or 8 elements between 16-bit (or F32) storage and F32 registers,
// and the activation functions shared by the fused epilogues and the pointwise kernels.
#pragma once
#include <cstdint>
#include <cstring>

#include "float_types.cuh"

namespace indetail {
namespace cuda {

// V = 8 needs a 16-byte aligned pointer (8 halves); V = 1 has no requirement.
template <typename T, int V>
__device__ __forceinline__ void load_vec(const T* p, float* f) {
  if constexpr (V == 8 && sizeof(T) == 2) {
    uint4 u = *reinterpret_cast<const uint4*>(p);
    T h[8];
    memcpy(h, &u, 16);
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = to_float(h[i]);
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) f[i] = to_float(p[i]);
  }
}

template <typename T, int V>
__device__ __forceinline__ void store_vec(T* p, const float* f) {
  if constexpr (V == 8 && sizeof(T) == 2) {
    T h[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) h[i] = from_float<T>(f[i]);
    uint4 u;
    memcpy(&u, h, 16);
    *reinterpret_cast<uint4*>(p) = u;
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) p[i] = from_float<T>(f[i]);
  }
}

// The values of engine/backend.h's Activation enum.
enum ActCode : int { kActNone = 0, kActSiLU = 1, kActGELU = 2, kActGELUTanh = 3, kActQuickGELU = 4 };

__device__ __forceinline__ float gelu_erf(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }

__device__ __forceinline__ float apply_act(int act, float v) {
  switch (act) {
    case kActSiLU: return v / (1.0f + __expf(-v));
    case kActGELU: return gelu_erf(v);
    case kActGELUTanh: return 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    case kActQuickGELU: return v / (1.0f + __expf(-1.702f * v));
    default: return v;
  }
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Blocks for a grid-stride loop over n items with 256 threads per block.
inline unsigned blocks_for(int64_t n, int64_t max_blocks = 65535LL * 16) {
  int64_t b = (n + 255) / 256;
  if (b > max_blocks) b = max_blocks;
  return (unsigned)(b > 0 ? b : 1);
}

}  // namespace cuda
}  // namespace indetail

// A grid-stride loop: i runs over [0, n) in steps of the grid's thread count, from this thread's index.
#define GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

// Calls `body` with `T` bound to the 16-bit compute type of `dtype` (F16 or BF16).
#define INDETAIL_DISPATCH_HALF(dtype, T, ...)                                          \
  switch (dtype) {                                                                     \
    case ::indetail::DType::F16: { using T = __half; __VA_ARGS__; break; }             \
    case ::indetail::DType::BF16: { using T = __nv_bfloat16; __VA_ARGS__; break; }     \
    default: ::indetail::fail(::indetail::ErrorKind::InvalidArgument,                  \
                              "expected an F16 or BF16 tensor, got ", ::indetail::dtype_name(dtype)); \
  }
