#include "controlnet.h"

#include "../core/error.h"

namespace indetail {

ControlNetModel::ControlNetModel(std::shared_ptr<Backend> backend, const std::string& config_json,
                                 const WeightSource& weights)
    : backend_(std::move(backend)) {
  ConfigReader r(config_json, "ControlNet config");
  UNetConfig c = read_unet_config(r, false, "ControlNet config");
  if (c.text_time)
    fail(ErrorKind::Unsupported, "ControlNet config: addition_embed_type \"text_time\" (an SDXL ControlNet) is not supported");
  cond_channels_ = r.integer("conditioning_channels");
  std::vector<int64_t> ce = r.integers("conditioning_embedding_out_channels");
  check_arg(cond_channels_ > 0 && !ce.empty(), "ControlNet config: invalid conditioning_channels or conditioning_embedding_out_channels");
  std::string order = r.string("controlnet_conditioning_channel_order", "rgb");
  if (order != "rgb")
    fail(ErrorKind::Unsupported, "ControlNet config: controlnet_conditioning_channel_order = \"", order, "\" is not supported");

  WeightLoader L(weights, *backend_, "ControlNet");
  enc_ = UNetEncoder::load(L, c);
  const std::string p = "controlnet_cond_embedding";
  cond_in_ = ConvLayer::load(L, p + ".conv_in", ce[0], cond_channels_, 3);
  for (size_t i = 0; i + 1 < ce.size(); ++i) {
    cond_blocks_.push_back(ConvLayer::load(L, p + ".blocks." + std::to_string(2 * i), ce[i], ce[i], 3));
    cond_blocks_.push_back(ConvLayer::load(L, p + ".blocks." + std::to_string(2 * i + 1), ce[i + 1], ce[i], 3, 2));
  }
  cond_factor_ = int64_t(1) << (ce.size() - 1);
  cond_out_ = ConvLayer::load(L, p + ".conv_out", c.block_out_channels[0], ce.back(), 3);
  for (size_t i = 0; i < enc_.skip_channels.size(); ++i) {
    int64_t ch = enc_.skip_channels[i];
    zero_down_.push_back(ConvLayer::load(L, "controlnet_down_blocks." + std::to_string(i), ch, ch, 1));
  }
  int64_t mid = c.block_out_channels.back();
  zero_mid_ = ConvLayer::load(L, "controlnet_mid_block", mid, mid, 1);
}

Tensor ControlNetModel::embed_condition(const Tensor& cond) const {
  Backend& be = *backend_;
  auto silu = [&](const Tensor& x) {
    Tensor y = be.empty(x.shape());
    be.activation(x, y, Activation::SiLU);
    return y;
  };
  Tensor e = silu(cond_in_(be, cond));
  for (const auto& b : cond_blocks_) e = silu(b(be, e));
  return cond_out_(be, e);
}

ControlNetOutput ControlNetModel::forward(const Tensor& sample, const std::vector<float>& timesteps,
                                          const Tensor& context, const Tensor& cond, float scale,
                                          const CancelToken* cancel) const {
  Backend& be = *backend_;
  enc_.check_inputs(be, "ControlNet", sample, (int64_t)timesteps.size(), context, TextTimeConditions{});
  check_activation(be, "ControlNet", "cond", cond);
  int64_t n = sample.size(0);
  check_arg(cond.dim() == 4 && (cond.size(0) == n || cond.size(0) == 1) && cond.size(3) == cond_channels_,
            "ControlNet: cond must be NHWC [", n, " or 1, H, W, ", cond_channels_, "], got ", shape_str(cond.shape()));

  Tensor temb = enc_.time_embedding(be, UNetEncoder::upload_scalars(be, timesteps), Tensor());
  Tensor h = enc_.conv_in(be, sample);
  Tensor emb = embed_condition(cond);
  check_arg(emb.size(1) == h.size(1) && emb.size(2) == h.size(2), "ControlNet: the conditioning image (",
            cond.size(1), "x", cond.size(2), ") embeds to ", emb.size(1), "x", emb.size(2), " but the latents are ",
            h.size(1), "x", h.size(2), " (the image must be ", cond_factor_, "x the latent size)");
  Tensor x = be.empty(h.shape());
  if (emb.size(0) == n) {
    be.add(h, emb, x);
  } else {
    for (int64_t f = 0; f < n; ++f) {  // one conditioning frame shared by the batch
      Tensor xf = x.slice0(f, 1);
      be.add(h.slice0(f, 1), emb, xf);
    }
  }
  h = x;
  emb = Tensor();

  std::vector<Tensor> skips{h};
  h = enc_.down_and_mid(be, h, temb, context, skips, cancel, "ControlNet");

  ControlNetOutput out;
  for (size_t i = 0; i < skips.size(); ++i) {
    out.down.push_back(zero_down_[i](be, skips[i], nullptr, nullptr, scale));
    skips[i] = Tensor();
  }
  out.mid = zero_mid_(be, h, nullptr, nullptr, scale);
  return out;
}

}  // namespace indetail
