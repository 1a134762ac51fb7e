// Device-side helpers for timing ops with CUDA events.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace indetail {
namespace cuda {

// Keeps the stream busy for about `ns` nanoseconds, so the host can queue the launches to be
// timed and the GPU then runs them back to back.
void launch_spin(int64_t ns, cudaStream_t stream);

}  // namespace cuda
}  // namespace indetail
