// CUDA error handling: every runtime call goes through CUDA_CHECK, which throws
// Error(Device) naming the call and the CUDA error — never aborts the process.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "../engine/core/error.h"

namespace indetail {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);

// Errors after which the context is unusable (the engine refuses further work).
inline bool cuda_error_is_sticky(cudaError_t err) {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorMisalignedAddress:
    case cudaErrorIllegalInstruction:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

}  // namespace indetail

#define CUDA_CHECK(expr)                                                              \
  do {                                                                                \
    cudaError_t cuda_check_err_ = (expr);                                             \
    if (cuda_check_err_ != cudaSuccess) ::indetail::throw_cuda_error(cuda_check_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here.
#define CUDA_CHECK_LAUNCH(name) CUDA_CHECK(cudaGetLastError())
