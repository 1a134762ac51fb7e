#include "timing.h"

namespace indetail {
namespace cuda {

namespace {

__global__ void spin_kernel(int64_t ns) {
  uint64_t start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    __nanosleep(1000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while ((int64_t)(now - start) < ns);
}

}  // namespace

void launch_spin(int64_t ns, cudaStream_t stream) { spin_kernel<<<1, 1, 0, stream>>>(ns); }

}  // namespace cuda
}  // namespace indetail
