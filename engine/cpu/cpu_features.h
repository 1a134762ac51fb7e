// Which instruction sets the CPU kernels use, chosen once at run time.
//
// Levels, each including the ones below it:
//   generic     portable C++ (any x86-64 or other CPU)
//   avx2        AVX2 + FMA (+ F16C)
//   avx512      AVX-512 F/BW/VL/DQ: the fp32 kernels
//   avx512bf16  + AVX512-BF16: bf16 dot products (vdpbf16ps) with fp32 accumulation
//   amx         + AMX-TILE / AMX-BF16 tiles (Sapphire Rapids and newer), with the OS's permission
// INDETAIL_CPU_LEVEL=<level> caps the level (tests of the fallbacks, benchmarks of one tier).
#pragma once
#include <string>

namespace indetail {

enum class CpuLevel { Generic = 0, AVX2 = 1, AVX512 = 2, AVX512BF16 = 3, AMX = 4 };

CpuLevel cpu_level();           // what the kernels use: detected, capped by INDETAIL_CPU_LEVEL
CpuLevel cpu_level_detected();  // what the CPU (and OS) offer
const char* cpu_level_name(CpuLevel l);
// "generic", "avx2", ... -> level; false for anything else.
bool cpu_level_from_name(const std::string& name, CpuLevel* out);
std::string cpu_features_string();  // the name of cpu_level()
// Why INDETAIL_CPU_LEVEL was ignored ("" when it is unset or valid), for `indetail doctor`.
std::string cpu_level_env_problem();

// Whether the CPU multiplies bf16 natively (AVX512-BF16 or AMX at the current level).
inline bool cpu_has_bf16_dot() { return cpu_level() >= CpuLevel::AVX512BF16; }

// The per-ISA table of the fp32 kernels for cpu_level(): AVX-512 and every level above it use
// the AVX-512 one.
template <typename T>
const T& kernels_for_level(const T& avx512, const T& avx2, const T& generic) {
  const CpuLevel l = cpu_level();
  return l >= CpuLevel::AVX512 ? avx512 : l >= CpuLevel::AVX2 ? avx2 : generic;
}

}  // namespace indetail
