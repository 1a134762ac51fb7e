#include "vit_model.h"

#include <algorithm>
#include <cmath>

#include "../core/error.h"

namespace indetail {

VitModelConfig VitModelConfig::from_json(const std::string& json_text) {
  ConfigReader r(json_text, "ViT config");
  VitModelConfig c;
  c.vit = VitConfig::read(r, "ViT config");
  c.qkv_bias = r.boolean("qkv_bias", true);
  return c;
}

VitModel::VitModel(const VitModelConfig& config, const WeightSource& weights, std::shared_ptr<Backend> backend)
    : config_(config), backend_(std::move(backend)) {
  Backend& b = *backend_;
  const VitConfig& c = config_.vit;
  const std::string what = "ViT model";
  WeightLoader w(weights, b, what);
  const int64_t C = c.hidden_size, g = c.grid();
  ConvLayer conv = ConvLayer::load(w, "embeddings.patch_embeddings.projection", C, c.num_channels, c.patch_size,
                                   (int)c.patch_size, 0, 0, true);
  Tensor cls = w.host("embeddings.cls_token", {1, 1, C}).reshape({C});
  Tensor pos = w.host("embeddings.position_embeddings", {1, 1 + g * g, C}).reshape({1 + g * g, C});
  embed_ = std::make_unique<PatchEmbedding>(b, std::move(conv), cls, pos, c, PositionRule::DinoInterpolate, what);
  const EncoderLayerNames names{"layernorm_before", "attention.attention.query", "attention.attention.key",
                                "attention.attention.value", "attention.output.dense", "layernorm_after",
                                "intermediate.dense", "output.dense"};
  for (int64_t i = 0; i < c.num_hidden_layers; ++i)
    layers_.push_back(PreNormEncoderLayer::load(w, "encoder.layer." + std::to_string(i), names, c, config_.qkv_bias));

  std::string extra = first_unused_weight(w, "encoder.", {});
  if (extra.empty()) extra = first_unused_weight(w, "embeddings.", {"embeddings.mask_token"});
  if (!extra.empty())
    fail(ErrorKind::BadFile, what, ": ", weights.describe_files(), " holds weight '", extra,
         "' that the config does not use (num_hidden_layers = ", c.num_hidden_layers, "); is the config for this checkpoint?");
}

std::vector<Tensor> VitModel::keys(const Tensor& pixels, const std::vector<int64_t>& layers) const {
  const VitConfig& c = config_.vit;
  check_arg(!layers.empty(), "ViT keys: no block asked for");
  for (int64_t l : layers)
    check_arg(l >= 0 && l < c.num_hidden_layers, "ViT keys: block ", l, " does not exist (the model has blocks 0 to ",
              c.num_hidden_layers - 1, ")");
  Backend& b = *backend_;
  const int64_t last = *std::max_element(layers.begin(), layers.end());
  std::vector<Tensor> out(layers.size());
  Tensor x = (*embed_)(b, pixels);
  for (int64_t i = 0; i <= last; ++i) {
    const PreNormEncoderLayer& layer = layers_[(size_t)i];
    Tensor k;
    for (size_t j = 0; j < layers.size(); ++j) {
      if (layers[j] != i) continue;
      if (!k.defined()) k = layer.keys(b, x, c);
      out[j] = k;
    }
    if (i < last) x = layer(b, x, c);
  }
  return out;
}

Tensor cosine_self_similarity(Backend& be, const Tensor& keys) {
  check_arg(keys.dim() == 3, "self-similarity: keys must be [N, tokens, channels], got ", keys.describe());
  const int64_t N = keys.size(0), T = keys.size(1), C = keys.size(2);
  Tensor host = be.download(keys);
  float* d = host.data<float>();
  for (int64_t r = 0; r < N * T; ++r) {
    float* row = d + r * C;
    double sq = 0;
    for (int64_t i = 0; i < C; ++i) sq += (double)row[i] * row[i];
    const float inv = sq > 0 ? (float)(1.0 / std::sqrt(sq)) : 0.0f;
    for (int64_t i = 0; i < C; ++i) row[i] *= inv;
  }
  Tensor out = be.empty({N, T, T});
  for (int64_t n = 0; n < N; ++n) {
    Tensor unit = host.slice0(n, 1).reshape({T, C});
    Tensor x = be.upload(unit);
    Tensor w = be.prepare_weight(unit, WeightUse::Linear);
    Tensor s = out.slice0(n, 1).reshape({T, T});
    be.linear(x, w, nullptr, nullptr, s, LinearParams{});
  }
  return out;
}

}  // namespace indetail
