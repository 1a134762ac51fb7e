// The vector type of one instruction set, for the CPU kernels written once and compiled per ISA.
//
// Include this only from kernel translation units (*_amx.cc, *_avx512bf16.cc, *_avx512.cc,
// *_avx2.cc, *_generic.cc): the ISA is the one the file is compiled for, and everything lives in a
// namespace named after it (isa_amx / isa_avx512bf16 / isa_avx512 / isa_avx2 / isa_generic; the
// first two use the AVX-512 vector type), so no function compiled with AVX-512 can be picked by
// the linker for a caller on a lesser CPU. Kernel files must not instantiate std:: templates
// (containers, std::function) for the same reason; the drivers that thread and allocate live in
// ordinary files and call the kernels through the tables of engine/cpu/*_kernels.h.
//
// V is W floats. Besides arithmetic it offers partial loads/stores (the first n lanes, the
// others read as 0 and left untouched) and exp / erf / tanh / sigmoid accurate to a few ulp
// (1e-7 absolute for erf), which is what the activations and softmax need.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(__AVX512F__)
// GCC 12 reports the _mm512_undefined_ps() inside its own intrinsics as (maybe-)uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#define INDETAIL_KERNEL_INLINE static inline __attribute__((always_inline))

#if defined(__AMX_BF16__) && defined(__AVX512BF16__)
#define INDETAIL_ISA isa_amx
#define INDETAIL_ISA_NAME "amx"
#elif defined(__AVX512BF16__)
#define INDETAIL_ISA isa_avx512bf16
#define INDETAIL_ISA_NAME "avx512bf16"
#elif defined(__AVX512F__)
#define INDETAIL_ISA isa_avx512
#define INDETAIL_ISA_NAME "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#define INDETAIL_ISA isa_avx2
#define INDETAIL_ISA_NAME "avx2"
#else
#define INDETAIL_ISA isa_generic
#define INDETAIL_ISA_NAME "generic"
#endif

namespace indetail {
namespace cpu {
namespace INDETAIL_ISA {

// Taylor coefficients of 2^r = exp(r ln 2): (ln 2)^k / k!
constexpr float EXP2_C1 = 6.9314718056e-01f;
constexpr float EXP2_C2 = 2.4022650696e-01f;
constexpr float EXP2_C3 = 5.5504108665e-02f;
constexpr float EXP2_C4 = 9.6181291076e-03f;
constexpr float EXP2_C5 = 1.3333558146e-03f;
constexpr float EXP2_C6 = 1.5403530393e-04f;
constexpr float EXP2_C7 = 1.5252733804e-05f;

#if defined(__AVX512F__)

constexpr int W = 16;
struct V {
  __m512 v;
};
INDETAIL_KERNEL_INLINE __mmask16 lane_mask(int n) { return (__mmask16)((1u << n) - 1u); }
INDETAIL_KERNEL_INLINE V vzero() { return {_mm512_setzero_ps()}; }
INDETAIL_KERNEL_INLINE V vset(float x) { return {_mm512_set1_ps(x)}; }
INDETAIL_KERNEL_INLINE V vload(const float* p) { return {_mm512_loadu_ps(p)}; }
INDETAIL_KERNEL_INLINE void vstore(float* p, V a) { _mm512_storeu_ps(p, a.v); }
INDETAIL_KERNEL_INLINE V vload_n(const float* p, int n) { return {_mm512_maskz_loadu_ps(lane_mask(n), p)}; }
INDETAIL_KERNEL_INLINE void vstore_n(float* p, V a, int n) { _mm512_mask_storeu_ps(p, lane_mask(n), a.v); }
INDETAIL_KERNEL_INLINE V operator+(V a, V b) { return {_mm512_add_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V operator-(V a, V b) { return {_mm512_sub_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V operator*(V a, V b) { return {_mm512_mul_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V operator/(V a, V b) { return {_mm512_div_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V vfma(V a, V b, V c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }  // a*b + c
INDETAIL_KERNEL_INLINE V vmax(V a, V b) { return {_mm512_max_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V vmin(V a, V b) { return {_mm512_min_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V vabs(V a) { return {_mm512_abs_ps(a.v)}; }
INDETAIL_KERNEL_INLINE float vsum(V a) { return _mm512_reduce_add_ps(a.v); }
INDETAIL_KERNEL_INLINE float vhmax(V a) { return _mm512_reduce_max_ps(a.v); }
// x < 0 ? a : b
INDETAIL_KERNEL_INLINE V vselect_neg(V x, V a, V b) {
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(x.v, _mm512_setzero_ps(), _CMP_LT_OQ), b.v, a.v)};
}
// x == -inf ? a : b
INDETAIL_KERNEL_INLINE V vselect_neginf(V x, V a, V b) {
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(x.v, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ), b.v, a.v)};
}

// The first n lanes of x stored as bf16: round to nearest even, NaN stays a quiet NaN (the
// rounding of vcvtneps2bf16, in integer arithmetic).
INDETAIL_KERNEL_INLINE void vstore_bf16_n(uint16_t* p, V x, int n) {
  const __m512i b = _mm512_castps_si512(x.v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(x.v, x.v, _CMP_UNORD_Q);
  r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
  _mm256_mask_storeu_epi16(p, lane_mask(n), _mm512_cvtepi32_epi16(r));
}

// exp: Cephes polynomial on r = x - n ln2, |r| <= ln2/2, then scalef by 2^n (0 below -104,
// +inf above 88.73 as expf).
INDETAIL_KERNEL_INLINE V vexp(V x) {
  __m512 t = _mm512_min_ps(_mm512_max_ps(x.v, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(100.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), t);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return {_mm512_scalef_ps(p, n)};
}

// 2^x: n = round(x), 2^(x - n) by its Taylor polynomial of degree 7 on [-1/2, 1/2] (error 1e-9),
// then scalef (0 below -150, +inf above 128).
INDETAIL_KERNEL_INLINE V vexp2(V x) {
  __m512 t = _mm512_min_ps(_mm512_max_ps(x.v, _mm512_set1_ps(-160.0f)), _mm512_set1_ps(160.0f));
  __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(EXP2_C7);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP2_C6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP2_C5));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP2_C4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP2_C3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP2_C2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP2_C1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return {_mm512_scalef_ps(p, n)};
}

#elif defined(__AVX2__) && defined(__FMA__)

constexpr int W = 8;
struct V {
  __m256 v;
};
INDETAIL_KERNEL_INLINE __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
INDETAIL_KERNEL_INLINE V vzero() { return {_mm256_setzero_ps()}; }
INDETAIL_KERNEL_INLINE V vset(float x) { return {_mm256_set1_ps(x)}; }
INDETAIL_KERNEL_INLINE V vload(const float* p) { return {_mm256_loadu_ps(p)}; }
INDETAIL_KERNEL_INLINE void vstore(float* p, V a) { _mm256_storeu_ps(p, a.v); }
INDETAIL_KERNEL_INLINE V vload_n(const float* p, int n) { return {_mm256_maskload_ps(p, lane_mask(n))}; }
INDETAIL_KERNEL_INLINE void vstore_n(float* p, V a, int n) { _mm256_maskstore_ps(p, lane_mask(n), a.v); }
INDETAIL_KERNEL_INLINE V operator+(V a, V b) { return {_mm256_add_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V operator-(V a, V b) { return {_mm256_sub_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V operator*(V a, V b) { return {_mm256_mul_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V operator/(V a, V b) { return {_mm256_div_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V vfma(V a, V b, V c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
INDETAIL_KERNEL_INLINE V vmax(V a, V b) { return {_mm256_max_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V vmin(V a, V b) { return {_mm256_min_ps(a.v, b.v)}; }
INDETAIL_KERNEL_INLINE V vabs(V a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
INDETAIL_KERNEL_INLINE float vsum(V a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
INDETAIL_KERNEL_INLINE float vhmax(V a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
INDETAIL_KERNEL_INLINE V vselect_neg(V x, V a, V b) {
  return {_mm256_blendv_ps(b.v, a.v, _mm256_cmp_ps(x.v, _mm256_setzero_ps(), _CMP_LT_OQ))};
}
INDETAIL_KERNEL_INLINE V vselect_neginf(V x, V a, V b) {
  return {_mm256_blendv_ps(b.v, a.v, _mm256_cmp_ps(x.v, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ))};
}

// exp: as above; 2^n is built in the exponent bits, so inputs are clamped to [-87.3, 88.376] (2^127),
// anything below -87.3 (including -inf) gives 0 and anything above 88.72 gives +inf.
INDETAIL_KERNEL_INLINE V vexp(V x) {
  __m256 t = _mm256_min_ps(_mm256_max_ps(x.v, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3762626647949f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), t);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x.v, _mm256_set1_ps(88.72283935546875f), _CMP_GT_OQ));
  return {_mm256_andnot_ps(_mm256_cmp_ps(x.v, _mm256_set1_ps(-87.3f), _CMP_LT_OQ), y)};
}

// 2^x as above; 2^n from the exponent bits: 0 below -126, +inf above 128.
INDETAIL_KERNEL_INLINE V vexp2(V x) {
  __m256 t = _mm256_min_ps(_mm256_max_ps(x.v, _mm256_set1_ps(-126.0f)), _mm256_set1_ps(127.0f));
  __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_sub_ps(t, n);
  __m256 p = _mm256_set1_ps(EXP2_C7);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP2_C6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP2_C5));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP2_C4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP2_C3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP2_C2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP2_C1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x.v, _mm256_set1_ps(128.0f), _CMP_GE_OQ));
  return {_mm256_andnot_ps(_mm256_cmp_ps(x.v, _mm256_set1_ps(-126.0f), _CMP_LT_OQ), y)};
}

#else  // portable: four lanes in plain C++ (the compiler vectorises with SSE2), libm functions

constexpr int W = 4;
struct V {
  float v[4];
};
#define INDETAIL_LANES for (int i_ = 0; i_ < 4; ++i_)
INDETAIL_KERNEL_INLINE V vzero() { return {{0.f, 0.f, 0.f, 0.f}}; }
INDETAIL_KERNEL_INLINE V vset(float x) { return {{x, x, x, x}}; }
INDETAIL_KERNEL_INLINE V vload(const float* p) { return {{p[0], p[1], p[2], p[3]}}; }
INDETAIL_KERNEL_INLINE void vstore(float* p, V a) { INDETAIL_LANES p[i_] = a.v[i_]; }
INDETAIL_KERNEL_INLINE V vload_n(const float* p, int n) {
  V r = vzero();
  for (int i = 0; i < n; ++i) r.v[i] = p[i];
  return r;
}
INDETAIL_KERNEL_INLINE void vstore_n(float* p, V a, int n) {
  for (int i = 0; i < n; ++i) p[i] = a.v[i];
}
INDETAIL_KERNEL_INLINE V operator+(V a, V b) { INDETAIL_LANES a.v[i_] += b.v[i_]; return a; }
INDETAIL_KERNEL_INLINE V operator-(V a, V b) { INDETAIL_LANES a.v[i_] -= b.v[i_]; return a; }
INDETAIL_KERNEL_INLINE V operator*(V a, V b) { INDETAIL_LANES a.v[i_] *= b.v[i_]; return a; }
INDETAIL_KERNEL_INLINE V operator/(V a, V b) { INDETAIL_LANES a.v[i_] /= b.v[i_]; return a; }
INDETAIL_KERNEL_INLINE V vfma(V a, V b, V c) { INDETAIL_LANES c.v[i_] += a.v[i_] * b.v[i_]; return c; }
INDETAIL_KERNEL_INLINE V vmax(V a, V b) { INDETAIL_LANES a.v[i_] = a.v[i_] > b.v[i_] ? a.v[i_] : b.v[i_]; return a; }
INDETAIL_KERNEL_INLINE V vmin(V a, V b) { INDETAIL_LANES a.v[i_] = a.v[i_] < b.v[i_] ? a.v[i_] : b.v[i_]; return a; }
INDETAIL_KERNEL_INLINE V vabs(V a) { INDETAIL_LANES a.v[i_] = std::fabs(a.v[i_]); return a; }
INDETAIL_KERNEL_INLINE float vsum(V a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }
INDETAIL_KERNEL_INLINE float vhmax(V a) {
  float m = a.v[0];
  for (int i = 1; i < 4; ++i) m = a.v[i] > m ? a.v[i] : m;
  return m;
}
INDETAIL_KERNEL_INLINE V vselect_neg(V x, V a, V b) { INDETAIL_LANES b.v[i_] = x.v[i_] < 0.f ? a.v[i_] : b.v[i_]; return b; }
INDETAIL_KERNEL_INLINE V vselect_neginf(V x, V a, V b) {
  INDETAIL_LANES b.v[i_] = x.v[i_] == -INFINITY ? a.v[i_] : b.v[i_];
  return b;
}
INDETAIL_KERNEL_INLINE V vexp(V a) { INDETAIL_LANES a.v[i_] = std::exp(a.v[i_]); return a; }
INDETAIL_KERNEL_INLINE V vexp2(V a) { INDETAIL_LANES a.v[i_] = std::exp2(a.v[i_]); return a; }
#undef INDETAIL_LANES

#endif

// Derived functions, the same on every ISA ------------------------------------------------------

#if !defined(__AVX512F__)
// The first n lanes of x stored as bf16 (round to nearest even, NaN stays a quiet NaN).
INDETAIL_KERNEL_INLINE void vstore_bf16_n(uint16_t* p, V x, int n) {
  float lanes[W];
  vstore(lanes, x);
  for (int i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, &lanes[i], 4);
    p[i] = (b & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((b >> 16) | 0x40) : (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
  }
}
#endif

// erf(x) = ±(1 - erfc|x|) with the Chebyshev fit of Numerical Recipes (erfcc): erfc to a relative
// 1.2e-7 everywhere, so erf to 1.2e-7 absolute, well inside float rounding of 1 + erf in GELU.
INDETAIL_KERNEL_INLINE V verf(V x) {
  V z = vabs(x);
  V t = vset(1.0f) / vfma(vset(0.5f), z, vset(1.0f));
  V p = vset(0.17087277f);
  p = vfma(p, t, vset(-0.82215223f));
  p = vfma(p, t, vset(1.48851587f));
  p = vfma(p, t, vset(-1.13520398f));
  p = vfma(p, t, vset(0.27886807f));
  p = vfma(p, t, vset(-0.18628806f));
  p = vfma(p, t, vset(0.09678418f));
  p = vfma(p, t, vset(0.37409196f));
  p = vfma(p, t, vset(1.00002368f));
  p = vfma(p, t, vset(-1.26551223f));
  V erfc = t * vexp(p - z * z);
  V one = vset(1.0f);
  return vselect_neg(x, erfc - one, one - erfc);
}

// tanh(x) = 1 - 2 / (exp(2x) + 1): saturates cleanly at ±1, 1e-7 absolute near 0.
INDETAIL_KERNEL_INLINE V vtanh(V x) {
  V one = vset(1.0f);
  return one - vset(2.0f) / (vexp(x + x) + one);
}

INDETAIL_KERNEL_INLINE V vsigmoid(V x) {
  V one = vset(1.0f);
  return one / (one + vexp(vzero() - x));
}

// GELU with the exact erf: 0.5 x (1 + erf(x / sqrt 2))
INDETAIL_KERNEL_INLINE V vgelu(V x) {
  V half_x = vset(0.5f) * x;
  return vfma(half_x, verf(x * vset(0.70710678118654752f)), half_x);
}

// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
INDETAIL_KERNEL_INLINE V vgelu_tanh(V x) {
  V inner = vset(0.7978845608028654f) * vfma(vset(0.044715f) * x, x * x, x);
  V half_x = vset(0.5f) * x;
  return vfma(half_x, vtanh(inner), half_x);
}

}  // namespace INDETAIL_ISA
}  // namespace cpu
}  // namespace indetail
