#include "finite.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "threadpool.h"

namespace indetail {

namespace {

// Whether any of p[0, n) has an exponent of all ones; branch-free so the loop vectorises.
bool any_non_finite(const float* p, int64_t n) {
  uint32_t hit = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    hit |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
  }
  return hit != 0;
}

}  // namespace

int64_t first_non_finite(const float* p, int64_t n) {
  constexpr int64_t kChunk = 1 << 16;
  std::atomic<int64_t> first{-1};
  parallel_for((n + kChunk - 1) / kChunk, 4, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t begin = c * kChunk, end = std::min(n, begin + kChunk);
      if (!any_non_finite(p + begin, end - begin)) continue;
      int64_t i = begin;
      while (!(any_non_finite(p + i, 1))) ++i;
      int64_t seen = first.load();
      while ((seen < 0 || i < seen) && !first.compare_exchange_weak(seen, i)) {
      }
      return;  // later chunks of this range cannot hold an earlier index
    }
  });
  return first.load();
}

}  // namespace indetail
