// bf16 helpers for kernels compiled with -mavx512bf16 (*_avx512bf16.cc, *_amx.cc), after simd.h.
#pragma once
#include <cstdint>

#include "simd.h"

#if !defined(__AVX512BF16__)
#error "simd_bf16.h needs -mavx512bf16"
#endif

namespace indetail {
namespace cpu {
namespace INDETAIL_ISA {

typedef int32_t __attribute__((may_alias)) bf16_pair_t;  // two bf16 read as one 32-bit lane

// dst = src rounded to bf16 (round to nearest even, vcvtneps2bf16), 16 values at a time.
INDETAIL_KERNEL_INLINE void floats_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + W <= n; i += W)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
  if (i < n) {
    const __mmask16 m = lane_mask((int)(n - i));
    _mm256_mask_storeu_epi16(dst + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i)));
  }
}

// acc += the dot products of the bf16 pair broadcast from `pair` with the 16 pairs at b.
INDETAIL_KERNEL_INLINE V dot_pairs(V acc, bf16_pair_t pair, const uint16_t* b) {
  return {_mm512_dpbf16_ps(acc.v, (__m512bh)_mm512_set1_epi32(pair), (__m512bh)_mm512_loadu_si512(b))};
}

}  // namespace INDETAIL_ISA
}  // namespace cpu
}  // namespace indetail
