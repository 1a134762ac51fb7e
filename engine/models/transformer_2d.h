// diffusers' Transformer2DModel with continuous input, as used by the SD UNet and ControlNet:
// GroupNorm -> proj_in -> BasicTransformerBlock × depth (self-attention, cross-attention, GEGLU
// feed-forward, each pre-LayerNorm with a residual) -> proj_out + the block input.
// proj_in/proj_out are 1×1 convolutions or linears in checkpoints; on NHWC both are linears.
#pragma once
#include <string>
#include <vector>

#include "attention_block.h"

namespace indetail {

struct TransformerBlock {
  NormLayer norm1, norm2, norm3;
  AttentionBlock attn1, attn2;
  LinearLayer ff_proj;  // ff.net.0.proj: [2 * ff_inner, dim], GEGLU
  LinearLayer ff_out;   // ff.net.2: [dim, ff_inner]

  static TransformerBlock load(WeightLoader& L, const std::string& prefix, int64_t dim, int64_t heads,
                               int64_t context_dim);
  // x: [N, L, dim]; context: [N, Lc, context_dim]; self_policy applies to attn1 only.
  Tensor operator()(Backend& be, const Tensor& x, const Tensor& context, const RefAttention* self_policy) const;
};

struct Transformer2D {
  NormLayer norm;
  LinearLayer proj_in, proj_out;
  std::vector<TransformerBlock> blocks;
  int groups = 32;
  int64_t channels = 0;

  static Transformer2D load(WeightLoader& L, const std::string& prefix, int64_t channels, int64_t heads,
                            int64_t context_dim, int64_t depth, int groups);
  // x: [N, H, W, C] -> [N, H, W, C]
  Tensor operator()(Backend& be, const Tensor& x, const Tensor& context, const RefAttention* self_policy) const;
};

}  // namespace indetail
