// version 1: one elementwise kernel per slice of up to 32 frames (blockIdx.y = frame); the
// per-frame rows travel in the kernel parameters, so there is no host round trip.
// For frame f and element i:
//   e  = cfg(eps[uncond_row[f]][i], eps[cond_row[f]][i])      (or the one row present)
//   epsilon:      x0 = (x − sqrt(1−a_from)·e) / sqrt(a_from)
//   v-prediction: x0 = sqrt(a_from)·x − sqrt(1−a_from)·e,  e <- sqrt(a_from)·e + sqrt(1−a_from)·x
//   out = sqrt(a_to)·x0 + sqrt(1−a_to)·e
//   out[reset_frame] = reset
#include <algorithm>

#include "../../engine/core/error.h"
#include "guidance_step.h"
#include "vec.cuh"

namespace indetail {
namespace cuda {

namespace {

constexpr int kFramesPerLaunch = 32;

struct FrameRows {
  int uncond[kFramesPerLaunch];
  int cond[kFramesPerLaunch];
};

struct Coeffs {
  float scale, sa_from, s1a_from, sa_to, s1a_to;
  int v_pred;
  int reset_local;  // frame index within this launch, or -1
};

template <typename T, int V>
__global__ void guidance_step_kernel(const T* eps, const T* x, const T* reset, T* out, int64_t frame_vecs,
                                     FrameRows rows, Coeffs k) {
  const int f = blockIdx.y;
  const int u = rows.uncond[f], c = rows.cond[f];
  const bool is_reset = f == k.reset_local;
  for (int64_t v = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; v < frame_vecs;
       v += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = v * V;
    float y[V];
    if (is_reset) {
      load_vec<T, V>(reset + i, y);
    } else {
      float e[V], xv[V];
      if (c < 0) {
        load_vec<T, V>(eps + u * frame_vecs * V + i, e);
      } else if (u < 0) {
        load_vec<T, V>(eps + c * frame_vecs * V + i, e);
      } else {
        float ec[V];
        load_vec<T, V>(eps + u * frame_vecs * V + i, e);
        load_vec<T, V>(eps + c * frame_vecs * V + i, ec);
#pragma unroll
        for (int j = 0; j < V; ++j) e[j] = e[j] + k.scale * (ec[j] - e[j]);
      }
      load_vec<T, V>(x + (int64_t)f * frame_vecs * V + i, xv);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const float x0 = k.v_pred ? k.sa_from * xv[j] - k.s1a_from * e[j] : (xv[j] - k.s1a_from * e[j]) / k.sa_from;
        const float ej = k.v_pred ? k.sa_from * e[j] + k.s1a_from * xv[j] : e[j];
        y[j] = k.sa_to * x0 + k.s1a_to * ej;
      }
    }
    store_vec<T, V>(out + (int64_t)f * frame_vecs * V + i, y);
  }
}

}  // namespace

void launch_guidance_step(DType dtype, const GuidanceStepArgs& a, cudaStream_t stream) {
  if (a.frames == 0 || a.frame_elems == 0) return;
  const bool vec = a.frame_elems % 8 == 0 && aligned16(a.eps) && aligned16(a.x) && aligned16(a.out) &&
                   (a.reset == nullptr || aligned16(a.reset));
  const int V = vec ? 8 : 1;
  const int64_t frame_vecs = a.frame_elems / V;
  const unsigned bx = blocks_for(frame_vecs, 4096);
  for (int f0 = 0; f0 < a.frames; f0 += kFramesPerLaunch) {
    const int nf = std::min(kFramesPerLaunch, a.frames - f0);
    FrameRows rows{};
    for (int i = 0; i < nf; ++i) {
      rows.uncond[i] = a.uncond_row[f0 + i];
      rows.cond[i] = a.cond_row[f0 + i];
    }
    Coeffs k{a.guidance_scale, a.sqrt_a_from, a.sqrt_1m_a_from, a.sqrt_a_to, a.sqrt_1m_a_to, a.v_prediction ? 1 : 0,
             a.reset_frame >= f0 && a.reset_frame < f0 + nf ? a.reset_frame - f0 : -1};
    INDETAIL_DISPATCH_HALF(dtype, T, {
      const T* eps = static_cast<const T*>(a.eps);
      const T* x = static_cast<const T*>(a.x) + (int64_t)f0 * a.frame_elems;
      const T* reset = static_cast<const T*>(a.reset);
      T* out = static_cast<T*>(a.out) + (int64_t)f0 * a.frame_elems;
      if (vec) guidance_step_kernel<T, 8><<<dim3(bx, nf), 256, 0, stream>>>(eps, x, reset, out, frame_vecs, rows, k);
      else guidance_step_kernel<T, 1><<<dim3(bx, nf), 256, 0, stream>>>(eps, x, reset, out, frame_vecs, rows, k);
    });
  }
}

}  // namespace cuda
}  // namespace indetail
