// Kernels that use more than 48 KiB of dynamic shared memory must say so per device before
// their first launch (cudaFuncAttributeMaxDynamicSharedMemorySize).
#pragma once

namespace indetail {
namespace cuda {

// Sets the limit of `kernel` on the current device to `bytes`, once per (kernel, device).
void allow_dynamic_smem(const void* kernel, int bytes);

}  // namespace cuda
}  // namespace indetail
