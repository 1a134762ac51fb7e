// version 1: grid-stride loops over 8-element (16-byte) vectors when sizes and pointers allow,
// single elements otherwise. Bandwidth-bound; every op is safe in place (out == input).
#include <algorithm>

#include "../../engine/core/error.h"
#include "pointwise.h"
#include "vec.cuh"

namespace indetail {
namespace cuda {

namespace {

template <typename T, int V>
__global__ void activation_kernel(const T* x, T* out, int64_t nvec, int act) {
  GRID_STRIDE(v, nvec) {
    float f[V];
    load_vec<T, V>(x + v * V, f);
#pragma unroll
    for (int j = 0; j < V; ++j) f[j] = apply_act(act, f[j]);
    store_vec<T, V>(out + v * V, f);
  }
}

template <typename T, int V>
__global__ void add_kernel(const T* a, const T* b, T* out, int64_t nvec, float alpha) {
  GRID_STRIDE(v, nvec) {
    float fa[V], fb[V];
    load_vec<T, V>(a + v * V, fa);
    load_vec<T, V>(b + v * V, fb);
#pragma unroll
    for (int j = 0; j < V; ++j) fa[j] += alpha * fb[j];
    store_vec<T, V>(out + v * V, fa);
  }
}

constexpr int kMaxFrames = 32;
struct FrameScales {
  float s[kMaxFrames];
};

// Frames [0, frames) of this launch; blockIdx.y is the frame.
template <typename T, int V>
__global__ void scale_frames_kernel(const T* x, T* out, int64_t frame_vecs, FrameScales sc) {
  const float s = sc.s[blockIdx.y];
  const int64_t base = (int64_t)blockIdx.y * frame_vecs;
  GRID_STRIDE(v, frame_vecs) {
    float f[V];
    load_vec<T, V>(x + (base + v) * V, f);
#pragma unroll
    for (int j = 0; j < V; ++j) f[j] *= s;
    store_vec<T, V>(out + (base + v) * V, f);
  }
}

template <typename T, int V>
__global__ void geglu_kernel(const T* x, T* out, int64_t rows, int64_t F) {
  const int64_t fv = F / V;
  GRID_STRIDE(v, rows * fv) {
    const int64_t r = v / fv;
    const int64_t c = (v - r * fv) * V;
    float a[V], g[V];
    load_vec<T, V>(x + r * 2 * F + c, a);
    load_vec<T, V>(x + r * 2 * F + F + c, g);
#pragma unroll
    for (int j = 0; j < V; ++j) a[j] *= gelu_erf(g[j]);
    store_vec<T, V>(out + r * F + c, a);
  }
}

}  // namespace

void launch_activation(DType dtype, const void* x, void* out, int64_t n, int act, cudaStream_t stream) {
  if (n == 0) return;
  const bool vec = n % 8 == 0 && aligned16(x) && aligned16(out);
  INDETAIL_DISPATCH_HALF(dtype, T, {
    const T* xs = static_cast<const T*>(x);
    T* os = static_cast<T*>(out);
    if (vec) activation_kernel<T, 8><<<blocks_for(n / 8), 256, 0, stream>>>(xs, os, n / 8, act);
    else activation_kernel<T, 1><<<blocks_for(n), 256, 0, stream>>>(xs, os, n, act);
  });
}

void launch_add(DType dtype, const void* a, const void* b, void* out, int64_t n, float alpha, cudaStream_t stream) {
  if (n == 0) return;
  const bool vec = n % 8 == 0 && aligned16(a) && aligned16(b) && aligned16(out);
  INDETAIL_DISPATCH_HALF(dtype, T, {
    const T* as = static_cast<const T*>(a);
    const T* bs = static_cast<const T*>(b);
    T* os = static_cast<T*>(out);
    if (vec) add_kernel<T, 8><<<blocks_for(n / 8), 256, 0, stream>>>(as, bs, os, n / 8, alpha);
    else add_kernel<T, 1><<<blocks_for(n), 256, 0, stream>>>(as, bs, os, n, alpha);
  });
}

void launch_scale_frames(DType dtype, const void* x, void* out, int64_t frame_elems, const std::vector<float>& scale,
                         cudaStream_t stream) {
  if (frame_elems == 0 || scale.empty()) return;
  const bool vec = frame_elems % 8 == 0 && aligned16(x) && aligned16(out);
  const int V = vec ? 8 : 1;
  const int64_t frame_vecs = frame_elems / V;
  const unsigned bx = blocks_for(frame_vecs, 4096);
  for (size_t f0 = 0; f0 < scale.size(); f0 += kMaxFrames) {
    const int nf = (int)std::min<size_t>(kMaxFrames, scale.size() - f0);
    FrameScales sc{};
    for (int i = 0; i < nf; ++i) sc.s[i] = scale[f0 + i];
    INDETAIL_DISPATCH_HALF(dtype, T, {
      const T* xs = static_cast<const T*>(x) + (int64_t)f0 * frame_elems;
      T* os = static_cast<T*>(out) + (int64_t)f0 * frame_elems;
      if (vec) scale_frames_kernel<T, 8><<<dim3(bx, nf), 256, 0, stream>>>(xs, os, frame_vecs, sc);
      else scale_frames_kernel<T, 1><<<dim3(bx, nf), 256, 0, stream>>>(xs, os, frame_vecs, sc);
    });
  }
}

void launch_geglu(DType dtype, const void* x, void* out, int64_t rows, int64_t F, cudaStream_t stream) {
  if (rows == 0 || F == 0) return;
  const bool vec = F % 8 == 0 && aligned16(x) && aligned16(out);
  INDETAIL_DISPATCH_HALF(dtype, T, {
    const T* xs = static_cast<const T*>(x);
    T* os = static_cast<T*>(out);
    if (vec) geglu_kernel<T, 8><<<blocks_for(rows * F / 8), 256, 0, stream>>>(xs, os, rows, F);
    else geglu_kernel<T, 1><<<blocks_for(rows * F), 256, 0, stream>>>(xs, os, rows, F);
  });
}

}  // namespace cuda
}  // namespace indetail
