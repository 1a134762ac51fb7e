// The parameterised layers the UNet-family graphs are made of (linear, convolution, norms), each
// loaded by its checkpoint name with the shape the config implies and run through the Backend
// with outputs from the backend's allocator. Nothing here is UNet-specific; the name only says
// who owns the file.
#pragma once
#include <string>

#include "../backend.h"
#include "weights.h"

namespace indetail {

struct NormLayer;

// A LayerNorm a layer applies to its input first (none when norm is nullptr).
struct PreNorm {
  const NormLayer* norm = nullptr;
  float eps = 1e-5f;
};

// out = x·wᵀ + b over the last dimension: [.., k] -> [.., n]. A 1×1 convolution of the checkpoint
// ([n, k, 1, 1]) is the same thing on NHWC activations.
struct LinearLayer {
  Tensor w, b;  // b undefined when the layer has no bias
  int64_t n = 0, k = 0;

  static LinearLayer load(WeightLoader& L, const std::string& name, int64_t n, int64_t k, bool bias = true);
  // residual (same shape as the output) is added after the activation.
  Tensor operator()(Backend& be, const Tensor& x, const Tensor* residual = nullptr, Activation act = Activation::None) const;
  // The same on x normalised by `pre` when it names a LayerNorm: one layer_norm_linear, which may
  // normalise while it multiplies so the normalised tensor is never stored.
  Tensor operator()(Backend& be, const PreNorm& pre, const Tensor& x, const Tensor* residual = nullptr) const;
};

struct NormLayer;

// A 2-D convolution on NHWC activations.
struct ConvLayer {
  Tensor w, b;  // b undefined when the layer has no bias
  int64_t cout = 0, cin = 0, kh = 0, kw = 0;
  Conv2dParams p;

  // pad_end < 0: same as pad. bias false: the layer has none (a ViT's patch embedding in CLIP).
  static ConvLayer load(WeightLoader& L, const std::string& name, int64_t cout, int64_t cin, int64_t k, int stride = 1,
                        int pad = -1, int pad_end = -1, bool bias = true);
  Shape out_shape(const Shape& x) const;
  // out = (conv(x) + b + frame_bias[n] + residual) * out_scale
  Tensor operator()(Backend& be, const Tensor& x, const Tensor* frame_bias = nullptr, const Tensor* residual = nullptr,
                    float out_scale = 1.0f) const;
  // The same on norm's GroupNorm of x (+SiLU): one group_norm_conv2d, which may normalise while it
  // convolves so the normalised tensor is never stored.
  Tensor after_group_norm(Backend& be, const NormLayer& norm, const Tensor& x, const GroupNormParams& gn,
                          const Tensor* frame_bias = nullptr, const Tensor* residual = nullptr,
                          float out_scale = 1.0f) const;
};

// Affine parameters of a GroupNorm or LayerNorm over `c` channels.
struct NormLayer {
  Tensor gamma, beta;
  int64_t c = 0;

  static NormLayer load(WeightLoader& L, const std::string& name, int64_t c);
  Tensor group_norm(Backend& be, const Tensor& x, int groups, float eps, bool silu) const;
  static GroupNormParams params(int groups, float eps, bool silu);
  Tensor layer_norm(Backend& be, const Tensor& x, float eps) const;
};

// Shape of `x` with the last dimension replaced.
Shape with_channels(const Shape& x, int64_t c);

}  // namespace indetail
