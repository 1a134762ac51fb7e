// The down, mid and up blocks of diffusers' UNet2DConditionModel (CrossAttnDownBlock2D /
// DownBlock2D, UNetMidBlock2DCrossAttn, CrossAttnUpBlock2D / UpBlock2D) on NHWC activations.
#pragma once
#include <string>
#include <vector>

#include "resnet_block.h"
#include "transformer_2d.h"

namespace indetail {

// What every block of one model shares.
struct BlockSettings {
  int64_t temb = 0;  // time-embedding channels
  int groups = 32;
  float eps = 1e-5f;
  float resnet_out_scale = 1.0f;  // output_scale_factor of the down/up resnets
};

struct DownBlock {
  std::vector<ResnetBlock> resnets;
  std::vector<Transformer2D> attentions;  // empty for DownBlock2D
  bool has_downsample = false;
  ConvLayer downsample;

  // heads/context_dim/depth are ignored without attention.
  static DownBlock load(WeightLoader& L, const std::string& prefix, const BlockSettings& s, int64_t cin, int64_t cout,
                        int64_t layers, bool attention, int64_t heads, int64_t context_dim, int64_t depth,
                        bool add_downsample, int downsample_padding);
  // Pushes the output of every layer and of the downsampler onto `skips`; returns the last.
  Tensor operator()(Backend& be, Tensor h, const Tensor& temb_act, const Tensor& context,
                    std::vector<Tensor>& skips) const;
  size_t outputs() const { return resnets.size() + (has_downsample ? 1 : 0); }
};

struct MidBlock {
  std::vector<ResnetBlock> resnets;  // layers + 1
  std::vector<Transformer2D> attentions;

  static MidBlock load(WeightLoader& L, const std::string& prefix, const BlockSettings& s, int64_t channels,
                       int64_t heads, int64_t context_dim, int64_t depth, float output_scale_factor);
  Tensor operator()(Backend& be, const Tensor& h, const Tensor& temb_act, const Tensor& context) const;
};

struct UpBlock {
  std::vector<ResnetBlock> resnets;
  std::vector<Transformer2D> attentions;  // empty for UpBlock2D
  bool has_upsample = false;
  ConvLayer upsample;

  // skip_channels: channels of the skip connections in the order this block consumes them.
  static UpBlock load(WeightLoader& L, const std::string& prefix, const BlockSettings& s, int64_t prev_out,
                      int64_t cout, const std::vector<int64_t>& skip_channels, bool attention, int64_t heads,
                      int64_t context_dim, int64_t depth, bool add_upsample);
  // Pops one skip connection per layer from `skips`; the upsampler interpolates to the size of the
  // next skip connection (diffusers' upsample_size forwarding: odd sizes work).
  // self_policy applies to the self-attention (attn1) of this block's transformers.
  Tensor operator()(Backend& be, Tensor h, const Tensor& temb_act, const Tensor& context, std::vector<Tensor>& skips,
                    const RefAttention* self_policy) const;
};

}  // namespace indetail
