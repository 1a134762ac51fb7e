#include "unet_blocks.h"

#include "../core/error.h"

namespace indetail {

namespace {
std::string at(const std::string& prefix, const char* what, size_t i) {
  return prefix + "." + what + "." + std::to_string(i);
}
}  // namespace

DownBlock DownBlock::load(WeightLoader& L, const std::string& prefix, const BlockSettings& s, int64_t cin,
                          int64_t cout, int64_t layers, bool attention, int64_t heads, int64_t context_dim,
                          int64_t depth, bool add_downsample, int downsample_padding) {
  DownBlock d;
  for (int64_t j = 0; j < layers; ++j) {
    d.resnets.push_back(ResnetBlock::load(L, at(prefix, "resnets", j), j == 0 ? cin : cout, cout, s.temb, s.groups,
                                          s.eps, s.resnet_out_scale));
    if (attention)
      d.attentions.push_back(
          Transformer2D::load(L, at(prefix, "attentions", j), cout, heads, context_dim, depth, s.groups));
  }
  d.has_downsample = add_downsample;
  if (add_downsample) {
    // diffusers pads (0, 1, 0, 1) itself when the convolution has no padding.
    int pad = downsample_padding, pad_end = downsample_padding == 0 ? 1 : -1;
    d.downsample = ConvLayer::load(L, prefix + ".downsamplers.0.conv", cout, cout, 3, 2, pad, pad_end);
  }
  return d;
}

Tensor DownBlock::operator()(Backend& be, Tensor h, const Tensor& temb_act, const Tensor& context,
                             std::vector<Tensor>& skips) const {
  for (size_t j = 0; j < resnets.size(); ++j) {
    h = resnets[j](be, h, temb_act);
    if (!attentions.empty()) h = attentions[j](be, h, context, nullptr);
    skips.push_back(h);
  }
  if (has_downsample) {
    h = downsample(be, h);
    skips.push_back(h);
  }
  return h;
}

MidBlock MidBlock::load(WeightLoader& L, const std::string& prefix, const BlockSettings& s, int64_t channels,
                        int64_t heads, int64_t context_dim, int64_t depth, float output_scale_factor) {
  MidBlock m;
  m.resnets.push_back(ResnetBlock::load(L, at(prefix, "resnets", 0), channels, channels, s.temb, s.groups, s.eps,
                                        output_scale_factor));
  m.attentions.push_back(Transformer2D::load(L, at(prefix, "attentions", 0), channels, heads, context_dim, depth, s.groups));
  m.resnets.push_back(ResnetBlock::load(L, at(prefix, "resnets", 1), channels, channels, s.temb, s.groups, s.eps,
                                        output_scale_factor));
  return m;
}

Tensor MidBlock::operator()(Backend& be, const Tensor& x, const Tensor& temb_act, const Tensor& context) const {
  Tensor h = resnets[0](be, x, temb_act);
  for (size_t j = 0; j < attentions.size(); ++j) {
    h = attentions[j](be, h, context, nullptr);
    h = resnets[j + 1](be, h, temb_act);
  }
  return h;
}

UpBlock UpBlock::load(WeightLoader& L, const std::string& prefix, const BlockSettings& s, int64_t prev_out,
                      int64_t cout, const std::vector<int64_t>& skip_channels, bool attention, int64_t heads,
                      int64_t context_dim, int64_t depth, bool add_upsample) {
  UpBlock u;
  for (size_t j = 0; j < skip_channels.size(); ++j) {
    int64_t cin = (j == 0 ? prev_out : cout) + skip_channels[j];
    u.resnets.push_back(ResnetBlock::load(L, at(prefix, "resnets", j), cin, cout, s.temb, s.groups, s.eps,
                                          s.resnet_out_scale));
    if (attention)
      u.attentions.push_back(
          Transformer2D::load(L, at(prefix, "attentions", j), cout, heads, context_dim, depth, s.groups));
  }
  u.has_upsample = add_upsample;
  if (add_upsample) u.upsample = ConvLayer::load(L, prefix + ".upsamplers.0.conv", cout, cout, 3);
  return u;
}

Tensor UpBlock::operator()(Backend& be, Tensor h, const Tensor& temb_act, const Tensor& context,
                           std::vector<Tensor>& skips, const RefAttention* self_policy) const {
  for (size_t j = 0; j < resnets.size(); ++j) {
    check_arg(!skips.empty(), "UNet: ran out of skip connections");
    Tensor skip = skips.back();
    skips.pop_back();
    Tensor cat = be.empty(with_channels(h.shape(), h.size(-1) + skip.size(-1)));
    be.concat_channels(h, skip, cat);
    h = resnets[j](be, cat, temb_act);
    if (!attentions.empty()) h = attentions[j](be, h, context, self_policy);
  }
  if (has_upsample) {
    const Shape& s = h.shape();
    int64_t oh = skips.empty() ? 2 * s[1] : skips.back().size(1);
    int64_t ow = skips.empty() ? 2 * s[2] : skips.back().size(2);
    Tensor up = be.empty({s[0], oh, ow, s[3]});
    be.upsample_nearest(h, up);
    h = upsample(be, up);
  }
  return h;
}

}  // namespace indetail
