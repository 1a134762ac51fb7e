#include "cpu_features.h"

#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace indetail {

namespace {

constexpr const char* kLevelNames[] = {"generic", "avx2", "avx512", "avx512bf16", "amx"};

#if defined(__x86_64__) || defined(__i386__)
struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(unsigned leaf, unsigned sub) {
  Regs r;
  if (!__get_cpuid_count(leaf, sub, &r.a, &r.b, &r.c, &r.d)) r = Regs{};
  return r;
}

unsigned long long xgetbv0() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

// AMX tiles: the CPU has AMX-TILE and AMX-BF16, the OS saves the tile state (XCR0 bits 17/18),
// and (Linux) this process was granted the tile data state, which must be requested once.
bool amx_usable() {
  Regs r7 = cpuid(7, 0);
  const bool amx_bf16 = (r7.d >> 22) & 1, amx_tile = (r7.d >> 24) & 1;
  if (!amx_bf16 || !amx_tile) return false;
  if (((xgetbv0() >> 17) & 3) != 3) return false;
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023;  // arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)
  constexpr long kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
  return true;
#else
  return false;
#endif
}
#endif

CpuLevel detect_hardware() {
  CpuLevel best = CpuLevel::Generic;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = CpuLevel::AVX2;
  if (best == CpuLevel::AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    best = CpuLevel::AVX512;
  // AVX512-BF16: CPUID.(7, 1):EAX bit 5 (the OS support for zmm state is covered by avx512f above).
  if (best == CpuLevel::AVX512 && ((cpuid(7, 1).a >> 5) & 1)) best = CpuLevel::AVX512BF16;
  if (best == CpuLevel::AVX512BF16 && amx_usable()) best = CpuLevel::AMX;
#endif
  return best;
}

struct Levels {
  CpuLevel detected;
  CpuLevel used;
  std::string env_problem;
};

const Levels& levels() {
  static const Levels l = [] {
    Levels r;
    r.detected = r.used = detect_hardware();
    if (const char* env = std::getenv("INDETAIL_CPU_LEVEL")) {
      CpuLevel want;
      if (!*env) {
      } else if (cpu_level_from_name(env, &want)) {
        if ((int)want < (int)r.used) r.used = want;
      } else {
        r.env_problem = std::string("INDETAIL_CPU_LEVEL='") + env +
                        "' is not a level (generic, avx2, avx512, avx512bf16, amx); ignored";
      }
    }
    return r;
  }();
  return l;
}

}  // namespace

CpuLevel cpu_level() { return levels().used; }
CpuLevel cpu_level_detected() { return levels().detected; }
std::string cpu_level_env_problem() { return levels().env_problem; }

const char* cpu_level_name(CpuLevel l) { return kLevelNames[(int)l]; }

bool cpu_level_from_name(const std::string& name, CpuLevel* out) {
  for (int i = 0; i < (int)(sizeof(kLevelNames) / sizeof(kLevelNames[0])); ++i) {
    if (name == kLevelNames[i]) {
      *out = (CpuLevel)i;
      return true;
    }
  }
  return false;
}

std::string cpu_features_string() { return cpu_level_name(cpu_level()); }

}  // namespace indetail
