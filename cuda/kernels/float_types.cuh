// Loads and stores between F32 / F16 / BF16 storage and F32 registers.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace indetail {
namespace cuda {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

}  // namespace cuda
}  // namespace indetail

// Calls `body` with `T` bound to the storage type of `dtype` (F32, F16 or BF16).
#define INDETAIL_DISPATCH_FLOAT(dtype, T, ...)                                        \
  switch (dtype) {                                                                    \
    case ::indetail::DType::F32: { using T = float; __VA_ARGS__; break; }             \
    case ::indetail::DType::F16: { using T = __half; __VA_ARGS__; break; }            \
    case ::indetail::DType::BF16: { using T = __nv_bfloat16; __VA_ARGS__; break; }    \
    default: ::indetail::fail(::indetail::ErrorKind::InvalidArgument, "expected a float tensor, got ", \
                              ::indetail::dtype_name(dtype));                           \
  }
