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
  if (c.text_time) {
    e.add_linear_1 = LinearLayer::load(L, "add_embedding.linear_1", c.time_embed_dim, c.projection_class_embeddings_input_dim);
    e.add_linear_2 = LinearLayer::load(L, "add_embedding.linear_2", c.time_embed_dim, c.time_embed_dim);
  }
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

namespace {

Tensor upload_floats(Backend& be, const std::vector<float>& v) {
  Tensor host = Tensor::host_uninitialized(DType::F32, {(int64_t)v.size()});
  std::memcpy(host.raw(), v.data(), v.size() * sizeof(float));
  return be.upload(host);
}

}  // namespace

UNetScalars UNetEncoder::upload_scalars(Backend& be, const std::vector<float>& timesteps,
                                        const std::vector<float>& time_ids) {
  UNetScalars s;
  s.timesteps = upload_floats(be, timesteps);
  if (!time_ids.empty()) s.time_ids = upload_floats(be, time_ids);
  return s;
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

Tensor UNetEncoder::time_embedding(Backend& be, const UNetScalars& s, const Tensor& text_embeds) const {
  int64_t n = s.timesteps.numel();
  TimestepEmbeddingParams p;
  p.flip_sin_to_cos = cfg.flip_sin_to_cos;
  p.freq_shift = cfg.freq_shift;
  Tensor proj = be.empty({n, cfg.block_out_channels[0]});
  be.timestep_embedding(s.timesteps, proj, p);
  Tensor emb = time_linear_2(be, time_linear_1(be, proj, nullptr, Activation::SiLU), nullptr, cfg.timestep_post_act);
  if (cfg.text_time) {
    // diffusers' get_aug_embed for "text_time": add_time_proj (the same sinusoid as the timesteps)
    // of every id, flattened per frame, after the text embedding; through add_embedding; added.
    int64_t ids = s.time_ids.numel();
    Tensor tproj = be.empty({ids, cfg.addition_time_embed_dim});
    be.timestep_embedding(s.time_ids, tproj, p);
    Tensor cat = be.empty({n, cfg.projection_class_embeddings_input_dim});
    be.concat_channels(text_embeds, tproj.reshape({n, ids / n * cfg.addition_time_embed_dim}), cat);
    emb = add_linear_2(be, add_linear_1(be, cat, nullptr, Activation::SiLU), &emb);
  }
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

void UNetEncoder::check_inputs(const Backend& be, const char* what, const Tensor& sample, int64_t timestep_count,
                               const Tensor& context, const TextTimeConditions& added) const {
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
  if (!cfg.text_time) {
    check_arg(!added.present() && added.time_ids.empty(), what, ": this model takes no added conditions (text_embeds, ",
              "time_ids): its config has no addition_embed_type");
    return;
  }
  check_arg(added.present(), what, ": the config's addition_embed_type \"text_time\" needs text_embeds and time_ids");
  check_activation(be, what, "text_embeds", added.text_embeds);
  const Tensor& te = added.text_embeds;
  int64_t ids = (int64_t)added.time_ids.size();
  check_arg(te.dim() == 2 && te.size(0) == n, what, ": text_embeds must be [", n, ", P], got ", shape_str(te.shape()));
  check_arg(ids > 0 && ids % n == 0, what, ": time_ids must hold the same number of ids for each of the ", n,
            " frames, got ", ids, " values");
  int64_t width = te.size(1) + ids / n * cfg.addition_time_embed_dim;
  check_arg(width == cfg.projection_class_embeddings_input_dim, what, ": text_embeds (", te.size(1), " wide) and ",
            ids / n, " time ids per frame (", cfg.addition_time_embed_dim, " each) make ", width,
            " inputs but the config's projection_class_embeddings_input_dim is ", cfg.projection_class_embeddings_input_dim);
}

}  // namespace indetail
