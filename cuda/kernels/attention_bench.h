// Attention entry points for the benchmark harness (binding/attention_bench.cc); not part of the
// op interface. Plain C++ (no CUDA headers) so the binding compiles with or without CUDA.
#pragma once
#include <cstdint>
#include <string>

#include "../../engine/backend.h"

namespace indetail {
namespace cuda {

struct AttentionKernelRun {
  std::string kernel;        // e.g. "flash d64 v0 (BR 128, BC 32)"
  uint64_t extra_bytes = 0;  // device scratch beyond inputs and output (global stash, if any)
};
// The attention op with an explicit kernel choice: "auto" (what the op runs), "flash" (default
// tile variant), "flash:<n>" (tile variant n of the head-dim group) or "simple".
AttentionKernelRun attention_with_kernel(Backend& backend, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor* k_ref, const Tensor* v_ref, Tensor& out, const AttentionParams& p,
                                  const std::string& kernel);

// The reference implementation's way (attention_naive.cu): concatenated / gathered K and V
// materialised, the full score matrix [frames, heads, Lq, keys] materialised in the storage
// dtype, a softmax pass, then P V; stratified = two such attentions plus a combine pass. Frames
// without a reference attend to their own keys (twice for concat: [K_own ; K_own], like the
// reference). Same arguments and result as the attention op; returns the device bytes it
// allocated beyond the inputs and the output.
uint64_t naive_attention(Backend& backend, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref,
                         const Tensor* v_ref, Tensor& out, const AttentionParams& p);

}  // namespace cuda
}  // namespace indetail
