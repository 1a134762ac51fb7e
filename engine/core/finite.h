// A cheap scan for NaN and ±Inf (an exponent of all ones) in float data of any stored width,
// memory-bound and threaded: what weight loading runs on every tensor, in its stored dtype, so
// that a corrupt checkpoint is refused by name at load instead of producing black images.
#pragma once
#include <cstdint>

#include "tensor.h"

namespace indetail {

// Index of the first NaN or ±Inf among p[0, n), or -1 when every value is finite.
int64_t first_non_finite(const float* p, int64_t n);
// The same for a host tensor of F32, F16 or BF16, read in place (no widened copy); -1 for
// non-float dtypes.
int64_t first_non_finite(const Tensor& t);
// Element i of a host F32/F16/BF16 tensor as a float (for messages).
float host_value_f32(const Tensor& t, int64_t i);

}  // namespace indetail
