// The CLIP text encoder of Stable Diffusion (Hugging Face CLIPTextModel), built from its
// config.json on the op interface. Weights are read by their Hugging Face names
// (text_model.embeddings.token_embedding.weight, text_model.encoder.layers.0.self_attn.q_proj.weight, ...).
//
//   x = token_embedding[ids] + position_embedding[0..L)
//   per layer (pre-LN):  x += out_proj(causal_self_attention(layer_norm1(x)))
//                        x += fc2(act(fc1(layer_norm2(x))))
//   penultimate_hidden_state = x before the last layer (no final layer norm; what SDXL uses)
//   last_hidden_state = final_layer_norm(x)                      [N, L, hidden]
//   pooled[n] = last_hidden_state[n, eos position of row n]      [N, hidden]
//   text_embeds = text_projection(pooled)                         [N, projection_dim]
//     (CLIPTextModelWithProjection / CLIPModel.get_text_features; only with a projection)
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../backend.h"
#include "unet_layers.h"
#include "weights.h"

namespace indetail {

struct ClipTextConfig {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_attention_heads = 0;
  int64_t num_hidden_layers = 0;
  int64_t max_position_embeddings = 0;
  int64_t vocab_size = 0;
  float layer_norm_eps = 1e-5f;
  Activation hidden_act = Activation::QuickGELU;
  // Pooling position: eos_token_id == 2 (the legacy CLIP configs, SD1.5 and SD2) means the
  // argmax of the ids, as transformers does; otherwise the first occurrence of eos_token_id.
  int64_t eos_token_id = 2;
  // > 0: the checkpoint's text_projection.weight [projection_dim, hidden] (no bias) is loaded and
  // applied to the pooled output. 0: no projection (Stable Diffusion's CLIPTextModel).
  int64_t projection_dim = 0;

  // From the JSON config normalised in TypeScript (ts/models/clip-text-config.ts); errors name the field.
  static ClipTextConfig from_json(const std::string& json_text);
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

class ClipTextModel {
 public:
  // Loads and checks every weight (shapes from the config; an unknown layer in the checkpoint
  // is refused as a config mismatch) and prepares it for `backend`.
  ClipTextModel(const ClipTextConfig& config, const WeightSource& weights, std::shared_ptr<Backend> backend);

  struct Output {
    Tensor last_hidden_state;         // [N, L, hidden]
    Tensor penultimate_hidden_state;  // [N, L, hidden] (transformers' hidden_states[-2]), undefined unless asked for
    Tensor pooled;                    // [N, hidden], undefined unless asked for
    Tensor text_embeds;               // [N, projection_dim]: with the pooled output when there is a projection
  };
  struct Want {
    bool pooled = false;
    bool penultimate = false;
  };
  // ids: host I32 [N, L] with 1 <= L <= max_position_embeddings and every id in [0, vocab_size).
  Output encode(const Tensor& ids, Want want) const;

  const ClipTextConfig& config() const { return config_; }
  const std::shared_ptr<Backend>& backend() const { return backend_; }
  // Position whose hidden state is the pooled output for one row of ids.
  int64_t pooled_position(const int32_t* row, int64_t length) const;

 private:
  struct Layer {
    Tensor ln1_w, ln1_b;
    Tensor qkv_w, qkv_b;  // q, k and v projections fused: [3 * hidden, hidden], [3 * hidden]
    Tensor out_w, out_b;
    Tensor ln2_w, ln2_b;
    Tensor fc1_w, fc1_b;
    Tensor fc2_w, fc2_b;
  };
  void check_ids(const Tensor& ids) const;

  ClipTextConfig config_;
  std::shared_ptr<Backend> backend_;
  Tensor token_embedding_, position_embedding_;
  std::vector<Layer> layers_;
  Tensor final_ln_w_, final_ln_b_;
  LinearLayer text_projection_;  // undefined weights without a projection
};

}  // namespace indetail
