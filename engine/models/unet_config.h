// The UNet / ControlNet architecture as read from the normalised config JSON that TypeScript
// produces (ts/models/unet-config.ts validates the diffusers config.json and refuses what the
// engine does not implement; every per-level value is spelled out as a list there).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../backend.h"
#include "config_reader.h"

namespace indetail {

struct UNetConfig {
  int64_t in_channels = 4;
  int64_t out_channels = 4;  // UNet only
  std::vector<int64_t> block_out_channels;
  std::vector<int64_t> layers_per_block;  // per level (down order)
  std::vector<bool> down_attention;       // CrossAttnDownBlock2D (true) / DownBlock2D
  std::vector<bool> up_attention;         // per up block: CrossAttnUpBlock2D (true) / UpBlock2D
  std::vector<int64_t> heads;             // per level (down order); the quirk of attention_head_dim resolved
  std::vector<int64_t> cross_attention_dim;          // per level
  std::vector<int64_t> transformer_layers;           // per level; the mid block uses the last
  std::vector<int64_t> up_transformer_layers;        // per up block
  int groups = 32;
  float norm_eps = 1e-5f;
  bool flip_sin_to_cos = true;
  float freq_shift = 0.0f;
  int64_t time_embed_dim = 0;
  Activation time_embedding_act = Activation::None;  // applied to the embedding (time_embedding_act_fn)
  Activation timestep_post_act = Activation::None;   // after time_embedding.linear_2
  int downsample_padding = 1;
  int conv_in_kernel = 3;
  int conv_out_kernel = 3;
  float resnet_out_scale_factor = 1.0f;
  float mid_block_scale_factor = 1.0f;
  // addition_embed_type "text_time" (SDXL): add_embedding(concat(text_embeds, sinusoid(time_ids)))
  // joins the time embedding; its input width is projection_class_embeddings_input_dim.
  bool text_time = false;
  int64_t addition_time_embed_dim = 0;
  int64_t projection_class_embeddings_input_dim = 0;
  bool has_decoder = true;

  size_t levels() const { return block_out_channels.size(); }
};

// with_decoder: read the up blocks and the output layers (UNet) or not (ControlNet).
UNetConfig read_unet_config(const ConfigReader& r, bool with_decoder, const std::string& what);

}  // namespace indetail
