#include "finite.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "convert.h"
#include "threadpool.h"

namespace indetail {

namespace {

// Whether any of p[0, n) has all of `exponent`'s bits set; branch-free so the loop vectorises.
template <typename Word>
bool any_non_finite(const Word* p, int64_t n, Word exponent) {
  Word hit = 0;
  for (int64_t i = 0; i < n; ++i) {
    Word bits;
    std::memcpy(&bits, p + i, sizeof bits);
    hit |= (Word)((bits & exponent) == exponent);
  }
  return hit != 0;
}

template <typename Word>
int64_t first_with_exponent(const Word* p, int64_t n, Word exponent) {
  constexpr int64_t kChunk = 1 << 16;
  std::atomic<int64_t> first{-1};
  parallel_for((n + kChunk - 1) / kChunk, 4, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t begin = c * kChunk, end = std::min(n, begin + kChunk);
      if (!any_non_finite(p + begin, end - begin, exponent)) continue;
      int64_t i = begin;
      while (!(any_non_finite(p + i, 1, exponent))) ++i;
      int64_t seen = first.load();
      while ((seen < 0 || i < seen) && !first.compare_exchange_weak(seen, i)) {
      }
      return;  // later chunks of this range cannot hold an earlier index
    }
  });
  return first.load();
}

}  // namespace

int64_t first_non_finite(const float* p, int64_t n) {
  return first_with_exponent(reinterpret_cast<const uint32_t*>(p), n, (uint32_t)0x7f800000u);
}

int64_t first_non_finite(const Tensor& t) {
  switch (t.dtype()) {
    case DType::F32: return first_non_finite(t.data<float>(), t.numel());
    case DType::F16: return first_with_exponent(t.data<uint16_t>(), t.numel(), (uint16_t)0x7c00u);
    case DType::BF16: return first_with_exponent(t.data<uint16_t>(), t.numel(), (uint16_t)0x7f80u);
    default: return -1;
  }
}

float host_value_f32(const Tensor& t, int64_t i) {
  float v = 0.0f;
  switch (t.dtype()) {
    case DType::F32: v = t.data<float>()[i]; break;
    case DType::F16: convert_f16_to_f32(t.data<uint16_t>() + i, &v, 1); break;
    case DType::BF16: convert_bf16_to_f32(t.data<uint16_t>() + i, &v, 1); break;
    default: break;
  }
  return v;
}

}  // namespace indetail
