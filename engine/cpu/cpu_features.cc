#include "cpu_features.h"

#include <cstdlib>
#include <string>

namespace indetail {

namespace {

CpuLevel detect() {
  CpuLevel best = CpuLevel::Generic;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = CpuLevel::AVX2;
  if (best == CpuLevel::AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    best = CpuLevel::AVX512;
#endif
  if (const char* env = std::getenv("INDETAIL_CPU_LEVEL")) {
    std::string s = env;
    CpuLevel want = s == "generic" ? CpuLevel::Generic : s == "avx2" ? CpuLevel::AVX2 : s == "avx512" ? CpuLevel::AVX512 : best;
    if ((int)want < (int)best) best = want;
  }
  return best;
}

}  // namespace

CpuLevel cpu_level() {
  static const CpuLevel level = detect();
  return level;
}

const char* cpu_level_name(CpuLevel l) {
  switch (l) {
    case CpuLevel::AVX512: return "avx512";
    case CpuLevel::AVX2: return "avx2";
    default: return "generic";
  }
}

std::string cpu_features_string() { return cpu_level_name(cpu_level()); }

}  // namespace indetail
