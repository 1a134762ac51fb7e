// GroupNorm on the CPU in two steps, so that a convolution can consume the normalised input
// without it being written in fp32 (CpuBackend::group_norm_conv2d): the per (frame, channel)
// coefficients, then y = act((x - center) · scale + shift) written as fp32 or bf16. Also the
// plain fp32 -> bf16 rounding of an activation (the same kernels).
#pragma once
#include <cstdint>

#include "../backend.h"

namespace indetail {

class CpuBackend;

namespace cpu {

struct GroupNormCoefficients {
  Tensor center, scale, shift;  // [frames, C] each
  int64_t pixels = 0;           // per frame
};

// Checks the arguments (messages name `op`) and computes the statistics (exact to float
// rounding: see norms.cc).
GroupNormCoefficients group_norm_coefficients(CpuBackend& be, const char* op, const Tensor& x, const Tensor& gamma,
                                              const Tensor& beta, const GroupNormParams& p);
// out (x's shape; floats, or bf16 when bf16_out) = the normalised x, SiLU applied when `silu`.
void group_norm_apply(const GroupNormCoefficients& k, const Tensor& x, bool silu, void* out, bool bf16_out);
// out = x (fp32) rounded to bf16 (round to nearest even). Threaded.
void store_bf16(const Tensor& x, uint16_t* out);

}  // namespace cpu
}  // namespace indetail
