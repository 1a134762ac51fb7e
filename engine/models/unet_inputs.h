// The inputs of one UNet forward, in one structure carried from the JavaScript binding
// (binding/unet_inputs_js.cc) through UNetGraphs (whose graph key is computed from it) to
// UNetModel. New conditioning is a new field here, not a new argument in every signature.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "../core/cancel.h"
#include "attention_block.h"

namespace indetail {

// ControlNet residuals: one per skip connection plus the mid block, in diffusers' order.
struct UNetControl {
  std::vector<Tensor> down;  // [N, h, w, c] per skip connection
  Tensor mid;
  std::vector<float> frame_scale;  // per frame (empty = 1): multiplies the residuals of each frame
};

// SDXL's added conditions (addition_embed_type "text_time"): per frame, the pooled text embedding
// and the size/crop ids (original height, width, crop top, left, target height, width), whose
// sinusoidal embeddings go through add_embedding with the text embedding into the time embedding.
struct TextTimeConditions {
  Tensor text_embeds;           // [N, P] on the backend, in its compute dtype
  std::vector<float> time_ids;  // N × T values, frame after frame
  bool present() const { return text_embeds.defined(); }
};

struct UNetInputs {
  Tensor sample;                  // noisy latents NHWC [N, H, W, in_channels]
  std::vector<float> timesteps;   // one per frame
  Tensor context;                 // text states [N, L, cross_attention_dim]
  TextTimeConditions added;       // exactly when the config has addition_embed_type "text_time"
  std::optional<UNetControl> control;
  // The decoder self-attention policy (mode None: plain attention everywhere), with the image-prompt
  // K/V cache's record / read pointers (RefAttention::record, ref_kv).
  RefAttention attention;
  // Polled before every down block, the mid block and every up block, and before a CUDA graph
  // replay (null: never stops early). Not part of the graph key.
  const CancelToken* cancel = nullptr;

  int64_t frames() const { return sample.defined() && sample.dim() > 0 ? sample.size(0) : 0; }
};

// The per-frame numbers of UNetInputs (timesteps, time ids) on the backend, as the time embedding
// reads them: uploaded by each forward, or refilled in place before a CUDA graph replay (an
// upload would synchronise inside the recording).
struct UNetScalars {
  Tensor timesteps;  // [N], compute dtype
  Tensor time_ids;   // [N × T], compute dtype; undefined without added conditions
};

}  // namespace indetail
