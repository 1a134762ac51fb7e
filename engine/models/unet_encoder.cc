#include "unet_encoder.h"

#include <cstring>

#include "../core/error.h"

namespace indetail {

UNetEncoder UNetEncoder::load(WeightLoader& L, const UNetConfig& c) {
  UNetEncoder e;
  e.cfg = c;
  e.settings.temb = c.time_embed_dim;
  e.settings.groups = c.groups;
  e.settings.eps = c.norm_eps;
  e.settings.resnet_out_scale = c.resnet_out_scale_factor;
  const auto& boc = c.block_out_channels;
  e.time_linear_1 = LinearLayer::load(L, "time_embedding.linear_1", c.time_embed_dim, boc[0]);
  e.time_linear_2 = LinearLayer::load(L, "time_embedding.linear_2", c.time_embed_dim, c.time_embed_dim);
  e.conv_in = ConvLayer::load(L, "conv_in", boc[0], c.in_channels, c.conv_in_kernel);
  e.skip_channels.push_back(boc[0]);
  for (size_t i = 0; i < c.levels(); ++i) {
    int64_t cin = i == 0 ? boc[0] : boc[i - 1];
    bool last = i + 1 == c.levels();
    e.down.push_back(DownBlock::load(L, "down_blocks." + std::to_string(i), e.settings, cin, boc[i],
                                     c.layers_per_block[i], c.down_attention[i], c.heads[i], c.cross_attention_dim[i],
                                     c.transformer_layers[i], !last, c.downsample_padding));
    for (size_t k = 0; k < e.down.back().outputs(); ++k) e.skip_channels.push_back(boc[i]);
  }
  e.mid = MidBlock::load(L, "mid_block", e.settings, boc.back(), c.heads.back(), c.cross_attention_dim.back(),
                         c.transformer_layers.back(), c.mid_block_scale_factor);
  return e;
}

Tensor UNetEncoder::upload_timesteps(Backend& be, const std::vector<float>& timesteps) {
  int64_t n = (int64_t)timesteps.size();
  Tensor host = Tensor::host_uninitialized(DType::F32, {n});
  std::memcpy(host.raw(), timesteps.data(), n * sizeof(float));
  return be.upload(host);
}

Tensor UNetEncoder::time_embedding(Backend& be, const std::vector<float>& timesteps) const {
  return time_embedding(be, upload_timesteps(be, timesteps));
}

Tensor UNetEncoder::down_and_mid(Backend& be, Tensor h, const Tensor& temb, const Tensor& context,
                                 std::vector<Tensor>& skips, const CancelToken* cancel, const char* what) const {
  for (size_t i = 0; i < down.size(); ++i) {
    check_cancel(cancel, what, " down block ", i);
    h = down[i](be, h, temb, context, skips);
  }
  check_cancel(cancel, what, " mid block");
  return mid(be, h, temb, context);
}

Tensor UNetEncoder::time_embedding(Backend& be, const Tensor& t) const {
  int64_t n = t.numel();
  Tensor proj = be.empty({n, cfg.block_out_channels[0]});
  TimestepEmbeddingParams p;
  p.flip_sin_to_cos = cfg.flip_sin_to_cos;
  p.freq_shift = cfg.freq_shift;
  be.timestep_embedding(t, proj, p);
  Tensor emb = time_linear_2(be, time_linear_1(be, proj, nullptr, Activation::SiLU), nullptr, cfg.timestep_post_act);
  if (cfg.time_embedding_act != Activation::None) {
    Tensor a = be.empty(emb.shape());
    be.activation(emb, a, cfg.time_embedding_act);
    emb = a;
  }
  Tensor act = be.empty(emb.shape());  // every resnet applies its nonlinearity to the embedding first
  be.activation(emb, act, Activation::SiLU);
  return act;
}

void check_activation(const Backend& be, const char* what, const std::string& name, const Tensor& t) {
  check_arg(t.defined(), what, ": ", name, " is missing");
  check_arg(t.device() == be.device() && t.dtype() == be.compute_dtype(), what, ": ", name, " must be a ",
            dtype_name(be.compute_dtype()), " tensor on ", be.name(), ", got ", t.describe());
}

void UNetEncoder::check_inputs(const Backend& be, const char* what, const Tensor& sample,
                               const std::vector<float>& timesteps, const Tensor& context) const {
  check_inputs(be, what, sample, (int64_t)timesteps.size(), context);
}

void UNetEncoder::check_inputs(const Backend& be, const char* what, const Tensor& sample, int64_t timestep_count,
                               const Tensor& context) const {
  check_activation(be, what, "sample", sample);
  check_activation(be, what, "context", context);
  check_arg(sample.dim() == 4 && sample.size(3) == cfg.in_channels && sample.size(0) > 0 && sample.size(1) > 0 &&
                sample.size(2) > 0,
            what, ": sample must be NHWC [N, H, W, ", cfg.in_channels, "], got ", shape_str(sample.shape()));
  int64_t n = sample.size(0);
  check_arg(timestep_count == n, what, ": expected one timestep per frame (", n, "), got ", timestep_count);
  check_arg(context.dim() == 3 && context.size(0) == n && context.size(1) > 0, what,
            ": context (encoder hidden states) must be [", n, ", L, C], got ", shape_str(context.shape()));
  for (size_t i = 0; i < cfg.levels(); ++i) {
    bool used = cfg.down_attention[i] || (cfg.has_decoder && cfg.up_attention[cfg.levels() - 1 - i]) ||
                i + 1 == cfg.levels();
    check_arg(!used || context.size(2) == cfg.cross_attention_dim[i], what, ": context has ", context.size(2),
              " channels but the config's cross_attention_dim is ", cfg.cross_attention_dim[i]);
  }
}

}  // namespace indetail
