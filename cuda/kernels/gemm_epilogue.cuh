// The epilogue of one GEMM output element (implicit_gemm.h, struct Epilogue), shared by the
// mma.sync tile kernel, its split-K reduction and the Hopper kernel (sm90/gemm_sm90.cu), so every
// path rounds the same F32 operations in the same order:
//   plain: y = (act(acc + bias[c] + frame_bias) + residual) * out_scale
//   geglu: y = ((acc_a + bias[c]) * gelu(acc_g + bias[n_out + c]) + residual) * out_scale
#pragma once
#include "implicit_gemm.h"
#include "vec.cuh"

namespace indetail {
namespace cuda {

// va: the accumulator (the `a` half with GEGLU), vg: the `g` half; fb / res: the element's
// per-frame bias and residual (read only when the epilogue has them).
__device__ __forceinline__ float epilogue_value(const Epilogue& ep, int c, float va, float vg, float fb, float res) {
  float v;
  if (ep.geglu) {
    const float av = va + (ep.bias ? ep.bias[c] : 0.0f);
    const float gv = vg + (ep.bias ? ep.bias[ep.n_out + c] : 0.0f);
    v = av * gelu_erf(gv);
  } else {
    v = va + (ep.bias ? ep.bias[c] : 0.0f);
  }
  if (ep.frame_bias) v += fb;
  if (ep.act) v = apply_act(ep.act, v);
  if (ep.residual) v += res;
  if (ep.out_scale != 1.0f) v *= ep.out_scale;
  return v;
}

}  // namespace cuda
}  // namespace indetail
