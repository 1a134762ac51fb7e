// The benchmark's naive CPU attention (attention_naive.cc); not part of the op interface.
#pragma once
#include <cstdint>

#include "../backend.h"

namespace indetail {

// The reference implementation's way on the CPU, in F32: the keys and values of every frame
// gathered / concatenated into new [frames, keys, C] tensors (a frame without a reference uses
// its own keys in their place, [K_own ; K_own] for concat, like the reference), then per frame
// and head the score matrix [Lq, keys] materialised, a softmax pass and a P V pass (each pass
// threaded over query rows); stratified = two attentions plus a combine pass. Same arguments
// and result as Backend::attention on host F32 tensors (no causal mask). Returns the bytes it
// allocated beyond the inputs and the output (score matrices are per frame and head: the
// reference's [frames, heads, Lq, keys] would not fit a CPU's memory at SD shapes).
uint64_t naive_attention_cpu(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref,
                             const Tensor* v_ref, Tensor& out, const AttentionParams& p);

}  // namespace indetail
