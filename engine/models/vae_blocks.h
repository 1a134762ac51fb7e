// Building blocks of the AutoencoderKL (diffusers v0.26 module names): a 3×3/1×1 convolution,
// the ResNet block without time embedding, the single-head mid-block attention and the
// down/up samplers. Kept apart from the UNet's blocks on purpose: the VAE's differ (eps 1e-6,
// no time embedding, attention with biases over all of H·W, asymmetric downsampling pad).
#pragma once
#include <string>

#include "../backend.h"
#include "weights.h"

namespace indetail {

// Every GroupNorm of the diffusers VAE (resnets, mid attention, conv_norm_out) uses eps 1e-6.
constexpr float kVaeNormEps = 1e-6f;

struct VaeConv {
  Tensor w, b;
  int64_t cout = 0, k = 0;
  VaeConv() = default;
  VaeConv(WeightLoader& ld, const std::string& prefix, int64_t cin, int64_t cout, int64_t k);
  // x: [N, H, W, cin] -> [N, Ho, Wo, cout]; residual (optional) has the output's shape.
  Tensor forward(Backend& b, const Tensor& x, const Conv2dParams& p, const Tensor* residual = nullptr) const;
};

struct VaeGroupNorm {
  Tensor gamma, beta;
  int groups = 32;
  VaeGroupNorm() = default;
  VaeGroupNorm(WeightLoader& ld, const std::string& prefix, int64_t channels, int groups);
  Tensor forward(Backend& b, const Tensor& x, bool silu) const;
};

// ResnetBlock2D, temb_channels None: conv2(silu(norm2(conv1(silu(norm1(x)))))) + shortcut(x),
// where shortcut is the 1×1 conv_shortcut when the channel count changes.
class VaeResnet {
 public:
  VaeResnet(WeightLoader& w, const std::string& prefix, int64_t cin, int64_t cout, int groups);
  Tensor forward(Backend& b, const Tensor& x) const;  // [N, H, W, cin] -> [N, H, W, cout]

 private:
  VaeGroupNorm norm1_, norm2_;
  VaeConv conv1_, conv2_, shortcut_;
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
  VaeGroupNorm norm_;
  Tensor wq_, bq_, wk_, bk_, wv_, bv_, wo_, bo_;
};

// Downsample2D(use_conv, padding 0): zero pad (0, 1, 0, 1), then a 3×3 stride-2 convolution
// (Conv2dParams pad 0, pad_end 1).
class VaeDownsample {
 public:
  VaeDownsample(WeightLoader& w, const std::string& prefix, int64_t channels);
  Tensor forward(Backend& b, const Tensor& x) const;  // [N, H, W, C] -> [N, H/2, W/2, C] (H, W even)

 private:
  Tensor w_;  // [C, 3, 3, C]
  Tensor b_;
};

// Upsample2D(use_conv): nearest ×2, then a 3×3 convolution.
class VaeUpsample {
 public:
  VaeUpsample(WeightLoader& w, const std::string& prefix, int64_t channels);
  Tensor forward(Backend& b, const Tensor& x) const;  // [N, H, W, C] -> [N, 2H, 2W, C]

 private:
  VaeConv conv_;
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
