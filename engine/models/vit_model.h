// A Vision Transformer as transformers' ViTModel holds it (facebook/dino-vitb8 and the other
// DINO ViTs), built from its config on the op interface, for what the quality metrics need: the
// keys of chosen blocks (Splice's VitExtractor hooks the qkv projection of blocks[l].attn).
// Weights by their Hugging Face names: embeddings.cls_token [1, 1, C],
// embeddings.position_embeddings [1, 1 + grid², C], embeddings.patch_embeddings.projection,
// encoder.layer.<i>.{layernorm_before, attention.attention.{query,key,value},
// attention.output.dense, layernorm_after, intermediate.dense, output.dense}; the final
// layernorm and a pooler may be present and are not used.
//
// Inputs of any size (at least one patch): the position embeddings are interpolated as DINO
// does (vit_positions.h) when the patch grid differs from the config's or the input is not square.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../backend.h"
#include "vit_layers.h"
#include "weights.h"

namespace indetail {

struct VitModelConfig {
  VitConfig vit;
  bool qkv_bias = true;

  static VitModelConfig from_json(const std::string& json_text);
};

class VitModel {
 public:
  VitModel(const VitModelConfig& config, const WeightSource& weights, std::shared_ptr<Backend> backend);

  // pixels: [N, H, W, num_channels] on the backend (normalised by the caller) -> for each block
  // index of `layers` (any order, 0 to num_hidden_layers - 1), the keys of that block:
  // [N, 1 + (H / patch) * (W / patch), hidden], the class token first, heads concatenated.
  // Blocks after the last one asked for are not run.
  std::vector<Tensor> keys(const Tensor& pixels, const std::vector<int64_t>& layers) const;

  const VitModelConfig& config() const { return config_; }
  const std::shared_ptr<Backend>& backend() const { return backend_; }

 private:
  VitModelConfig config_;
  std::shared_ptr<Backend> backend_;
  std::unique_ptr<PatchEmbedding> embed_;
  std::vector<PreNormEncoderLayer> layers_;
};

// Splice's attn_cosine_sim per frame: S[i, j] = k_i · k_j / (|k_i| |k_j|) over all tokens.
// keys: [N, T, C] on the backend -> [N, T, T] on the backend. The rows are normalised on the host
// (norms in double) and multiplied by the backend's linear op; a zero key gives a zero row.
// Splice divides by max(|k_i| |k_j|, 1e-8) instead: the two agree unless a key is shorter than 1e-4.
Tensor cosine_self_similarity(Backend& be, const Tensor& keys);

}  // namespace indetail
