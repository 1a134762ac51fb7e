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
  for (const PreNormEncoderLayer& l : layers_) x = l(b, x, c);
  const int64_t N = x.size(0), T = x.size(1), C = c.hidden_size;
  Tensor cls = b.empty({N, C});
  Tensor rows = x.reshape({N * T, C});
  for (int64_t n = 0; n < N; ++n) {
    Tensor dst = cls.slice0(n, 1);
    b.copy(rows.slice0(n * T, 1), dst);
  }
  x = Tensor();
  return projection_(b, post_ln_.layer_norm(b, cls, c.layer_norm_eps));
}

}  // namespace indetail
