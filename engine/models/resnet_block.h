// diffusers' ResnetBlock2D with the default time-embedding injection ("default" scale-shift):
//   h = conv1(act(norm1(x))) + time_emb_proj(act(temb));  h = conv2(act(norm2(h)))
//   out = (shortcut(x) + h) / output_scale_factor
// The activation is SiLU (fused into the GroupNorms); act(temb) is computed once per forward by
// the caller and shared by every block.
#pragma once
#include <string>

#include "unet_layers.h"

namespace indetail {

struct ResnetBlock {
  NormLayer norm1, norm2;
  ConvLayer conv1, conv2;
  LinearLayer time_emb_proj;
  LinearLayer conv_shortcut;  // 1×1 when in != out channels
  bool has_shortcut = false;
  int groups = 32;
  float eps = 1e-5f;
  float output_scale_factor = 1.0f;
  int64_t cin = 0, cout = 0;

  static ResnetBlock load(WeightLoader& L, const std::string& prefix, int64_t cin, int64_t cout, int64_t temb,
                          int groups, float eps, float output_scale_factor);
  // x: [N, H, W, cin]; temb_act: [N, temb] = act(time embedding) -> [N, H, W, cout]
  Tensor operator()(Backend& be, const Tensor& x, const Tensor& temb_act) const;
};

}  // namespace indetail
