// Helpers shared by the emulator's test files: 16-bit buffers, seeded random inputs, and the
// checks that print one line per case ("ok" / "FAIL") and count failures.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "../../engine/core/dtype.h"
#include "ptx_emu.h"  // needs emu.h, force-included in every emulator build

namespace emutest {

using indetail::DType;

inline int g_failures = 0, g_cases = 0;
inline std::mt19937 g_rng(1234);

template <typename T>
inline uint16_t to16(float f) {
  T h = T(f);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
template <typename T>
inline float from16(uint16_t b) {
  return indetail::cuda::bits_to_float<T>(b);
}

// 16-bit storage of exactly n elements (so AddressSanitizer sees any read past the end), after
// `offset` spare elements that let tests misalign the pointer on purpose.
template <typename T>
struct Buf16 {
  std::vector<uint16_t> raw;
  int off;
  Buf16(size_t n, int offset = 0) : raw(n + offset, 0xffff), off(offset) {}
  uint16_t* p() { return raw.data() + off; }
  const uint16_t* p() const { return raw.data() + off; }
  float get(size_t i) const { return from16<T>(raw[off + i]); }
  void set(size_t i, float f) { raw[off + i] = to16<T>(f); }
  size_t n() const { return raw.size() - off; }
};

template <typename T>
Buf16<T> randn16(size_t n, float std = 1.0f, float mean = 0.0f, int offset = 0) {
  std::normal_distribution<float> d(mean, std);
  Buf16<T> b(n, offset);
  for (size_t i = 0; i < n; ++i) b.set(i, d(g_rng));
  return b;
}

inline std::vector<float> randn32(size_t n, float std = 1.0f, float mean = 0.0f) {
  std::normal_distribution<float> d(mean, std);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g_rng);
  return v;
}

template <typename T>
constexpr const char* tname() {
  return sizeof(T) == 2 && std::is_same<T, __half>::value ? "f16" : "bf16";
}
template <typename T>
DType dtype_of() {
  return std::is_same<T, __half>::value ? DType::F16 : DType::BF16;
}
template <typename T>
double rel_ulp() {
  return std::is_same<T, __half>::value ? std::ldexp(1.0, -10) : std::ldexp(1.0, -7);
}

// |got - want| <= ulps · ulp(|want|) + abs_tol for every element.
template <typename T>
void check(const std::string& name, const Buf16<T>& got, const std::vector<double>& want, double ulps = 1.0,
           double abs_tol = 1e-6) {
  ++g_cases;
  size_t bad = 0, first = 0;
  double worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got.get(i), w = want[i];
    const double tol = ulps * rel_ulp<T>() * std::max(std::fabs(w), 1e-3) + abs_tol;
    const double err = std::fabs(g - w);
    if (!(err <= tol)) {
      if (!bad) first = i;
      ++bad;
    }
    if (!(err <= worst)) {
      worst = std::isnan(err) ? INFINITY : err;
      worst_i = i;
    }
  }
  std::printf("%s %-62s %s n=%zu max err %.3g", bad ? "FAIL" : "ok  ", name.c_str(), tname<T>(), want.size(), worst);
  if (bad) {
    std::printf(" | %zu bad, first %zu got %.6g want %.6g, worst %zu got %.6g want %.6g", bad, first, got.get(first),
                want[first], worst_i, got.get(worst_i), want[worst_i]);
    ++g_failures;
  }
  std::printf("\n");
}

inline double act_ref(int act, double v) {
  switch (act) {
    case 1: return v / (1 + std::exp(-v));
    case 2: return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case 3: return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    case 4: return v / (1 + std::exp(-1.702 * v));
    default: return v;
  }
}
inline double gelu_ref(double v) { return act_ref(2, v); }

// The image-prompt cache drops a frame from the batch; the frames left must keep every bit:
// `tail` (a run over the last frames) must equal `all` (a run over one more frame) after it.
inline void bits_case(const std::string& name, const std::vector<uint16_t>& all, const std::vector<uint16_t>& tail,
                      size_t frame_elems) {
  ++g_cases;
  size_t differing = 0;
  for (size_t i = 0; i < tail.size(); ++i) differing += all[frame_elems + i] != tail[i];
  std::printf("%s %-62s %zu of %zu values differ\n", differing ? "FAIL" : "ok  ", name.c_str(), differing, tail.size());
  if (differing) ++g_failures;
}

// Records one case that is not a numeric comparison (a property of a run).
inline void expect(bool ok, const std::string& name, const std::string& detail = std::string()) {
  ++g_cases;
  if (!ok) ++g_failures;
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", name.c_str(), detail.empty() ? "" : " | ", detail.c_str());
}

}  // namespace emutest
