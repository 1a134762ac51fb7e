// Building blocks of the AutoencoderKL (diffusers v0.26 module names): the ResNet block without
// time embedding, the single-head mid-block attention and the down/up samplers, made of the
// shared layers of unet_layers.h. The blocks themselves are the VAE's own: they differ from the
// UNet's (eps 1e-6, no time embedding, attention with biases over all of H·W, asymmetric
// downsampling pad).
#pragma once
#include <string>

#include "../backend.h"
#include "unet_layers.h"
#include "weights.h"

namespace indetail {

// Every GroupNorm of the diffusers VAE (resnets, mid attention, conv_norm_out) uses eps 1e-6.
constexpr float kVaeNormEps = 1e-6f;

// ResnetBlock2D, temb_channels None: conv2(silu(norm2(conv1(silu(norm1(x)))))) + shortcut(x),
// where shortcut is the 1×1 conv_shortcut when the channel count changes.
class VaeResnet {
 public:
  VaeResnet(WeightLoader& w, const std::string& prefix, int64_t cin, int64_t cout, int groups);
  Tensor forward(Backend& b, const Tensor& x) const;  // [N, H, W, cin] -> [N, H, W, cout]

 private:
  int groups_;
  NormLayer norm1_, norm2_;
  ConvLayer conv1_, conv2_, shortcut_;
  bool has_shortcut_ = false;
};

// The mid block's Attention (heads = 1, dim_head = C): GroupNorm, q/k/v linears with bias,
// softmax(q kᵀ / sqrt(C)) v over all H·W positions of a frame, to_out.0, plus the input.
class VaeAttention {
 public:
  VaeAttention(WeightLoader& w, const std::string& prefix, int64_t channels, int groups);
  Tensor forward(Backend& b, const Tensor& x) const;  // [N, H, W, C] -> same

 private:
  int64_t c_;
  int groups_;
  NormLayer norm_;
  LinearLayer to_q_, to_k_, to_v_, to_out_;
};

// Downsample2D(use_conv, padding 0): zero pad (0, 1, 0, 1), then a 3×3 stride-2 convolution
// (Conv2dParams pad 0, pad_end 1).
class VaeDownsample {
 public:
  VaeDownsample(WeightLoader& w, const std::string& prefix, int64_t channels);
  Tensor forward(Backend& b, const Tensor& x) const;  // [N, H, W, C] -> [N, H/2, W/2, C] (H, W even)

 private:
  ConvLayer conv_;
};

// Upsample2D(use_conv): nearest ×2, then a 3×3 convolution.
class VaeUpsample {
 public:
  VaeUpsample(WeightLoader& w, const std::string& prefix, int64_t channels);
  Tensor forward(Backend& b, const Tensor& x) const;  // [N, H, W, C] -> [N, 2H, 2W, C]

 private:
  ConvLayer conv_;
};

// UNetMidBlock2D of the VAE: resnet, attention, resnet (all at `channels`).
class VaeMidBlock {
 public:
  VaeMidBlock(WeightLoader& w, const std::string& prefix, int64_t channels, int groups);
  Tensor forward(Backend& b, const Tensor& x) const;

 private:
  VaeResnet res0_;
  VaeAttention attn_;
  VaeResnet res1_;
};

}  // namespace indetail
