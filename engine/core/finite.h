// A cheap scan for NaN and ±Inf in float32 data (an exponent of all ones), memory-bound and
// threaded: what weight loading runs on every tensor so that a corrupt checkpoint is refused by
// name at load instead of producing black images.
#pragma once
#include <cstdint>

namespace indetail {

// Index of the first NaN or ±Inf among p[0, n), or -1 when every value is finite.
int64_t first_non_finite(const float* p, int64_t n);

}  // namespace indetail
