#include "smem_limit.h"

#include <cuda_runtime.h>

#include <mutex>
#include <set>
#include <utility>

#include "../cuda_check.h"

namespace indetail {
namespace cuda {

void allow_dynamic_smem(const void* kernel, int bytes) {
  static std::mutex mu;
  static std::set<std::pair<const void*, int>> done;
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lk(mu);
  if (done.count({kernel, dev})) return;
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  done.insert({kernel, dev});
}

}  // namespace cuda
}  // namespace indetail
