// Classifier-free guidance combine + DDIM step (eta 0) + image-prompt reset (backend.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "../../engine/core/dtype.h"

namespace indetail {
namespace cuda {

struct GuidanceStepArgs {
  const void* eps = nullptr;    // [R, E]
  const void* x = nullptr;      // [F, E]
  const void* reset = nullptr;  // [E] when reset_frame >= 0
  void* out = nullptr;          // [F, E] (may alias x)
  int64_t frame_elems = 0;      // E
  int frames = 0;               // F
  float guidance_scale = 1.0f;
  float sqrt_a_from = 1.0f, sqrt_1m_a_from = 0.0f, sqrt_a_to = 1.0f, sqrt_1m_a_to = 0.0f;
  bool v_prediction = false;
  std::vector<int32_t> uncond_row, cond_row;  // validated by the caller
  int reset_frame = -1;
};

void launch_guidance_step(DType dtype, const GuidanceStepArgs& a, cudaStream_t stream);

}  // namespace cuda
}  // namespace indetail
