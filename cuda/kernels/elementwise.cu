// version 1: grid-stride loops, one element per thread per iteration. These are bandwidth-bound
// helpers (weight/activation conversion, the foundation's fill/axpy parity pair).
#include "../../engine/core/error.h"
#include "elementwise.cuh"
#include "float_types.cuh"

namespace indetail {
namespace cuda {

namespace {

template <typename T>
__global__ void fill_kernel(T* y, int64_t n, float value) {
  T v = from_float<T>(value);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = v;
}

template <typename T>
__global__ void axpy_kernel(float a, const T* x, T* y, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = from_float<T>(a * to_float(x[i]) + to_float(y[i]));
}

template <typename S, typename D>
__global__ void convert_kernel(const S* src, D* dst, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = from_float<D>(to_float(src[i]));
}

unsigned grid_for(int64_t n) {
  int64_t blocks = (n + 255) / 256;
  if (blocks > 65535 * 8) blocks = 65535 * 8;
  return (unsigned)(blocks > 0 ? blocks : 1);
}

}  // namespace

void launch_fill(DType dtype, void* y, int64_t n, float value, cudaStream_t stream) {
  if (n == 0) return;
  INDETAIL_DISPATCH_FLOAT(dtype, T, fill_kernel<T><<<grid_for(n), 256, 0, stream>>>(static_cast<T*>(y), n, value));
}

void launch_axpy(DType dtype, float a, const void* x, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  INDETAIL_DISPATCH_FLOAT(dtype, T,
                          axpy_kernel<T><<<grid_for(n), 256, 0, stream>>>(a, static_cast<const T*>(x),
                                                                          static_cast<T*>(y), n));
}

void launch_convert(DType from, const void* src, DType to, void* dst, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  INDETAIL_DISPATCH_FLOAT(from, S, INDETAIL_DISPATCH_FLOAT(to, D, convert_kernel<S, D><<<grid_for(n), 256, 0, stream>>>(static_cast<const S*>(src), static_cast<D*>(dst), n)));
}

}  // namespace cuda
}  // namespace indetail
