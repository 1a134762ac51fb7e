// Which vector instruction set the CPU kernels use, chosen once at run time.
// INDETAIL_CPU_LEVEL=generic|avx2|avx512 forces a lower level (tests of the fallbacks).
#pragma once
#include <string>

namespace indetail {

enum class CpuLevel { Generic = 0, AVX2 = 1, AVX512 = 2 };

CpuLevel cpu_level();
const char* cpu_level_name(CpuLevel l);
std::string cpu_features_string();  // "avx512 (avx2 fma avx512f ...)"

}  // namespace indetail
