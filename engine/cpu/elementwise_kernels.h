// Per-ISA elementwise kernels (elementwise_kernels.inc; the ops are in elementwise.cc).
#pragma once
#include <cstdint>

#include "../backend.h"

namespace indetail {
namespace cpu {

struct ElementwiseKernels {
  void (*activation)(const float* x, float* y, int64_t n, Activation act);
  void (*add)(const float* a, const float* b, float* y, int64_t n, float alpha);  // y = a + alpha·b
  void (*scale)(const float* x, float* y, int64_t n, float s);                    // y = s·x
  // rows of [a | g] (2f wide) -> rows of a · gelu(g) (f wide), exact-erf GELU
  void (*geglu)(const float* x, float* y, int64_t rows, int64_t f);
};

namespace isa_avx512 { const ElementwiseKernels& elementwise_kernel_table(); }
namespace isa_avx2 { const ElementwiseKernels& elementwise_kernel_table(); }
namespace isa_generic { const ElementwiseKernels& elementwise_kernel_table(); }
const ElementwiseKernels& elementwise_kernels();

}  // namespace cpu
}  // namespace indetail
