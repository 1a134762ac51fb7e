// The parts every Vision Transformer here is made of (CLIP's vision tower, the ViT of DINO), on
// the op interface: the config fields they share, the patch embedding (a convolution with
// kernel = stride = patch size, a class token and position embeddings) and the pre-LayerNorm
// encoder layer. Weights are read by the names each model passes in (Hugging Face CLIP and ViT
// name the same tensors differently).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../backend.h"
#include "attention_block.h"
#include "config_reader.h"
#include "unet_layers.h"
#include "weights.h"

namespace indetail {

// Fields of transformers' CLIPVisionConfig / ViTConfig (normalised in TypeScript, see
// ts/models/vit-config.ts); errors name the field.
struct VitConfig {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_attention_heads = 0;
  int64_t num_hidden_layers = 0;
  int64_t image_size = 0;
  int64_t patch_size = 0;
  int64_t num_channels = 3;
  float layer_norm_eps = 1e-5f;
  Activation hidden_act = Activation::GELU;

  static VitConfig read(const ConfigReader& r, const std::string& what);
  int64_t grid() const { return image_size / patch_size; }  // patches per side at image_size
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

// Suffixes (after "<layer prefix>.") of one encoder layer's tensors.
struct EncoderLayerNames {
  const char* ln1;
  const char* q;
  const char* k;
  const char* v;
  const char* out;
  const char* ln2;
  const char* fc1;
  const char* fc2;
};

// x += attention(ln1(x)); x += fc2(act(fc1(ln2(x)))), on [N, tokens, hidden].
struct PreNormEncoderLayer {
  NormLayer ln1, ln2;
  AttentionBlock attn;
  LinearLayer fc1, fc2;

  static PreNormEncoderLayer load(WeightLoader& L, const std::string& prefix, const EncoderLayerNames& names,
                                  const VitConfig& c, bool qkv_bias);
  Tensor operator()(Backend& be, const Tensor& x, const VitConfig& c) const;
  // The same layer's output at the class token only: [N, tokens, hidden] -> [N, 1, hidden] (the
  // queries, the output projection and the MLP run on one token; keys and values on all).
  Tensor class_token(Backend& be, const Tensor& x, const VitConfig& c) const;
  // The key projection of ln1(x), heads concatenated: [N, tokens, hidden] (what a hook on the
  // attention's qkv projection sees of the keys).
  Tensor keys(Backend& be, const Tensor& x, const VitConfig& c) const;
};

// Which position embeddings an input whose patch grid differs from the config's gets.
enum class PositionRule {
  Fixed,             // none: only image_size x image_size inputs are accepted (CLIP)
  DinoInterpolate,   // DINO's interpolate_pos_encoding (see vit_positions.h)
};

// conv(pixels) (+ bias) with the class token in front, plus position embeddings:
// [N, H, W, channels] -> [N, 1 + (H / patch) * (W / patch), hidden] (remainder pixels dropped,
// as a stride-patch convolution does).
class PatchEmbedding {
 public:
  // class_token: host F32 [hidden]; positions: host F32 [1 + grid², hidden].
  PatchEmbedding(Backend& be, ConvLayer conv, const Tensor& class_token, const Tensor& positions, const VitConfig& c,
                 PositionRule rule, std::string what);
  Tensor operator()(Backend& be, const Tensor& pixels) const;
  // Tokens of the sequence for an input of height x width pixels (checks the size).
  int64_t tokens(int64_t height, int64_t width) const;

 private:
  // Device [1, gh, gw, hidden] position embeddings of the patches for an input of H x W pixels.
  Tensor patch_positions(Backend& be, int64_t height, int64_t width) const;

  ConvLayer conv_;
  VitConfig config_;
  PositionRule rule_;
  std::string what_;
  Tensor positions_host_;   // [1 + grid², hidden]
  Tensor class_row_;        // device [1, hidden]: class token + position 0
  Tensor grid_positions_;   // device [1, grid, grid, hidden]
};

// The first token of every frame: [N, tokens, C] -> [N, 1, C].
Tensor class_tokens(Backend& be, const Tensor& x);

// For messages: the first tensor of `loader` under `prefix` that no load asked for, skipping
// `ignored` names (buffers like position_ids); "" when there is none.
std::string first_unused_weight(const WeightLoader& loader, const std::string& prefix,
                                const std::vector<std::string>& ignored);

}  // namespace indetail
