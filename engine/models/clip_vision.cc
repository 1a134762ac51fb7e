#include "clip_vision.h"

#include "../core/error.h"

namespace indetail {

ClipVisionConfig ClipVisionConfig::from_json(const std::string& json_text) {
  ConfigReader r(json_text, "CLIP vision config");
  ClipVisionConfig c;
  c.vit = VitConfig::read(r, "CLIP vision config");
  c.projection_dim = r.integer("projection_dim");
  if (c.projection_dim <= 0)
    fail(ErrorKind::InvalidArgument, "CLIP vision config: 'projection_dim' must be a positive integer, found ", c.projection_dim);
  return c;
}

ClipVisionModel::ClipVisionModel(const ClipVisionConfig& config, const WeightSource& weights, std::shared_ptr<Backend> backend)
    : config_(config), backend_(std::move(backend)) {
  Backend& b = *backend_;
  const VitConfig& c = config_.vit;
  const std::string what = "CLIP vision model";
  WeightLoader w(weights, b, what);
  const int64_t C = c.hidden_size, g = c.grid();
  const std::string emb = "vision_model.embeddings.";
  ConvLayer conv = ConvLayer::load(w, emb + "patch_embedding", C, c.num_channels, c.patch_size, (int)c.patch_size, 0, 0, false);
  Tensor cls = w.host(emb + "class_embedding", {C});
  Tensor pos = w.host(emb + "position_embedding.weight", {1 + g * g, C});
  embed_ = std::make_unique<PatchEmbedding>(b, std::move(conv), cls, pos, c, PositionRule::Fixed, what);
  pre_ln_ = NormLayer::load(w, "vision_model.pre_layrnorm", C);
  const EncoderLayerNames names{"layer_norm1", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                "self_attn.out_proj", "layer_norm2", "mlp.fc1", "mlp.fc2"};
  for (int64_t i = 0; i < c.num_hidden_layers; ++i)
    layers_.push_back(PreNormEncoderLayer::load(w, "vision_model.encoder.layers." + std::to_string(i), names, c, true));
  post_ln_ = NormLayer::load(w, "vision_model.post_layernorm", C);
  projection_ = LinearLayer::load(w, "visual_projection", config_.projection_dim, C, false);

  // A vision tensor nobody asked for means the config does not describe this checkpoint.
  std::string extra = first_unused_weight(w, "vision_model.", {"vision_model.embeddings.position_ids"});
  if (!extra.empty())
    fail(ErrorKind::BadFile, what, ": ", weights.describe_files(), " holds weight '", extra,
         "' that the config does not use (num_hidden_layers = ", c.num_hidden_layers, "); is the config for this checkpoint?");
}

Tensor ClipVisionModel::image_embeds(const Tensor& pixels) const {
  Backend& b = *backend_;
  const VitConfig& c = config_.vit;
  Tensor x = pre_ln_.layer_norm(b, (*embed_)(b, pixels), c.layer_norm_eps);
  for (size_t i = 0; i + 1 < layers_.size(); ++i) x = layers_[i](b, x, c);
  // Only the class token of the last layer is used.
  Tensor cls = layers_.back().class_token(b, x, c);
  x = Tensor();
  cls = cls.reshape({cls.size(0), c.hidden_size});
  return projection_(b, post_ln_.layer_norm(b, cls, c.layer_norm_eps));
}

}  // namespace indetail
