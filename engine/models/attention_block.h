// Multi-head attention with separate q/k/v/out projections (diffusers' `Attention`: to_q, to_k,
// to_v, to_out.0), on sequences [frames, tokens, channels]. Generic: used by the UNet's
// transformer blocks (self- and cross-attention); usable by any model with the same layout.
#pragma once
#include <string>
#include <vector>

#include "kv_cache.h"
#include "unet_layers.h"

namespace indetail {

// How the frames of a self-attention also attend to a reference frame's keys and values
// (DESIGN.md §1); mapped onto AttentionParams. mode None = plain attention.
struct RefAttention {
  RefMode mode = RefMode::None;
  std::vector<int32_t> ref;  // per frame: the frame it also attends to, or -1
  float lambda_ref = 1.0f;
  float lambda_self = 1.0f;
  // Reference keys/values kept outside the batch (the image-prompt K/V cache), one pair per layer
  // with a kv_slot: ref[b] then indexes their rows instead of the batch's frames.
  const DecoderKV* ref_kv = nullptr;
  // When set, each layer with a kv_slot copies the keys/values of the batch rows `record_rows`
  // (in that order) into (*record)[kv_slot], whatever the mode. The vector is sized by the caller.
  DecoderKV* record = nullptr;
  std::vector<int32_t> record_rows;
};

struct AttentionBlock {
  LinearLayer to_q, to_k, to_v, to_out;
  int64_t heads = 1, dim_head = 0;
  int kv_slot = -1;  // index in a DecoderKV (the decoder self-attention layers), -1 = not cached

  // `prefix` e.g. "down_blocks.0.attentions.0.transformer_blocks.0.attn1"; inner = heads * dim_head.
  static AttentionBlock load(WeightLoader& L, const std::string& prefix, int64_t query_dim, int64_t context_dim,
                             int64_t heads, int64_t dim_head, bool qkv_bias = false);
  // x: [N, L, query_dim]; context: [N, Lc, context_dim] or nullptr for self-attention.
  // Returns to_out(attention) + residual (when given). query_norm: a LayerNorm of x applied in the
  // query projection (for cross-attention, where x feeds only that projection).
  Tensor operator()(Backend& be, const Tensor& x, const Tensor* context, const Tensor* residual,
                    const RefAttention* policy = nullptr, const PreNorm& query_norm = {}) const;
};

}  // namespace indetail
