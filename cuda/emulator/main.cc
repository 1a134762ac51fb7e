// The emulator's test program (built and run by cuda/emulator/run.sh): every group of emulated
// kernel cases, or the one named on the command line, then one summary line. Exits 1 when a case
// fails. Groups:
//   gemm norm pointwise invariance   the tile kernels and batch invariance (kernels_test.cc)
//   attention [name filter]          the attention kernels (attention_test.cc)
//   sm90                             one check per emulated Hopper instruction (sm90_units_test.cc)
//   sm90-gemm                        the wgmma/TMA GEMM and convolution (kernels_test.cc)
#include <cstdio>
#include <string>

#include "../../engine/core/error.h"
#include "../cuda_check.h"
#include "check.h"

void run_kernel_cases(const std::string& only);
void run_attention_cases(const std::string& filter);
void run_sm90_unit_cases();

namespace indetail {
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  throw Error(ErrorKind::Device, std::string("emulated CUDA error in ") + what);
}
}  // namespace indetail
extern "C" cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
extern "C" cudaError_t cudaFuncSetAttribute(const void*, enum cudaFuncAttribute, int) { return cudaSuccess; }
extern "C" cudaError_t cudaGetLastError() { return cudaSuccess; }
extern "C" const char* cudaGetErrorString(cudaError_t) { return "emulated CUDA error"; }

int main(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
  const std::string filter = argc > 2 ? argv[2] : "";
  auto want = [&](const char* group) { return only.empty() || only == group; };
  try {
    for (const char* g : {"gemm", "norm", "pointwise", "invariance", "sm90-gemm"})
      if (want(g)) run_kernel_cases(g);
    if (want("attention")) run_attention_cases(filter);
    if (want("sm90")) run_sm90_unit_cases();
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  std::printf("%d/%d emulated kernel cases pass (%lld emulated threads)\n", emutest::g_cases - emutest::g_failures,
              emutest::g_cases, (long long)emu::g_threads_run);
  return emutest::g_failures ? 1 : 0;
}
