#include "convert.h"

#include "../cpu/cpu_features.h"
#include "dtype.h"
#include "threadpool.h"

namespace indetail {

namespace {
constexpr int64_t kGrain = 1 << 18;
}

void convert_f16_to_f32(const uint16_t* src, float* dst, size_t n) {
  bool simd = cpu_level() >= CpuLevel::AVX2;
  parallel_for((int64_t)n, kGrain, [&](int64_t b, int64_t e) {
    if (simd) {
      avx2::convert_f16_to_f32(src + b, dst + b, (size_t)(e - b));
    } else {
      for (int64_t i = b; i < e; ++i) dst[i] = f16_to_f32(src[i]);
    }
  });
}

void convert_bf16_to_f32(const uint16_t* src, float* dst, size_t n) {
  parallel_for((int64_t)n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = bf16_to_f32(src[i]);
  });
}

void convert_f32_to_f16(const float* src, uint16_t* dst, size_t n) {
  bool simd = cpu_level() >= CpuLevel::AVX2;
  parallel_for((int64_t)n, kGrain, [&](int64_t b, int64_t e) {
    if (simd) {
      avx2::convert_f32_to_f16(src + b, dst + b, (size_t)(e - b));
    } else {
      for (int64_t i = b; i < e; ++i) dst[i] = f32_to_f16(src[i]);
    }
  });
}

}  // namespace indetail
