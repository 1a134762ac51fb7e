// CLIP's vision tower with its projection (transformers CLIPVisionModelWithProjection, i.e.
// CLIPModel.get_image_features), built from its config on the op interface. Weights by their
// Hugging Face names: vision_model.embeddings.patch_embedding.weight (no bias),
// vision_model.embeddings.class_embedding, vision_model.embeddings.position_embedding.weight,
// vision_model.pre_layrnorm, vision_model.encoder.layers.<i>.{layer_norm1, self_attn.{q,k,v,out}_proj,
// layer_norm2, mlp.fc1, mlp.fc2}, vision_model.post_layernorm, visual_projection.weight (no bias).
//
//   x = [class_embedding ; conv(pixels)] + position_embedding       [N, 1 + grid², hidden]
//   x = pre_layrnorm(x); per layer (pre-LN): attention, MLP (see vit_layers.h)
//   image_embeds = visual_projection(post_layernorm(x[:, 0]))        [N, projection_dim]
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../backend.h"
#include "vit_layers.h"
#include "weights.h"

namespace indetail {

struct ClipVisionConfig {
  VitConfig vit;
  int64_t projection_dim = 0;

  // The vision config with projection_dim, as ts/models/vit-config.ts normalises it.
  static ClipVisionConfig from_json(const std::string& json_text);
};

class ClipVisionModel {
 public:
  ClipVisionModel(const ClipVisionConfig& config, const WeightSource& weights, std::shared_ptr<Backend> backend);

  // pixels: [N, image_size, image_size, num_channels] on the backend, normalised as the CLIP
  // image processor does -> [N, projection_dim] (not L2-normalised).
  Tensor image_embeds(const Tensor& pixels) const;

  const ClipVisionConfig& config() const { return config_; }
  const std::shared_ptr<Backend>& backend() const { return backend_; }

 private:
  ClipVisionConfig config_;
  std::shared_ptr<Backend> backend_;
  std::unique_ptr<PatchEmbedding> embed_;
  NormLayer pre_ln_, post_ln_;
  std::vector<PreNormEncoderLayer> layers_;
  LinearLayer projection_;
};

}  // namespace indetail
