#include "unet_config.h"

#include "../core/error.h"

namespace indetail {

namespace {

std::vector<int64_t> per_level(const ConfigReader& r, const std::string& what, const std::string& key, size_t n,
                               bool positive = true) {
  std::vector<int64_t> v = r.integers_or_repeat(key, n);
  check_arg(v.size() == n, what, ": '", key, "' must have ", n, " entries, found ", v.size());
  for (int64_t x : v) check_arg(positive ? x > 0 : x >= 0, what, ": '", key, "' has the invalid entry ", x);
  return v;
}

Activation activation(const ConfigReader& r, const std::string& what, const std::string& key) {
  if (!r.has(key)) return Activation::None;
  std::string s = r.string(key);
  if (s == "silu" || s == "swish") return Activation::SiLU;
  if (s == "gelu") return Activation::GELU;
  fail(ErrorKind::Unsupported, what, ": ", key, " = \"", s, "\" is not supported");
}

}  // namespace

UNetConfig read_unet_config(const ConfigReader& r, bool with_decoder, const std::string& what) {
  UNetConfig c;
  c.in_channels = r.integer("in_channels");
  c.block_out_channels = r.integers("block_out_channels");
  size_t n = c.block_out_channels.size();
  check_arg(n > 0, what, ": block_out_channels is empty");
  for (int64_t x : c.block_out_channels) check_arg(x > 0, what, ": block_out_channels has the invalid entry ", x);
  c.layers_per_block = per_level(r, what, "layers_per_block", n);
  std::vector<std::string> down = r.strings("down_block_types");
  check_arg(down.size() == n, what, ": down_block_types must have ", n, " entries");
  for (const auto& t : down) {
    if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D")
      fail(ErrorKind::Unsupported, what, ": down block type \"", t, "\" is not supported");
    c.down_attention.push_back(t == "CrossAttnDownBlock2D");
  }
  std::string mid = r.string("mid_block_type");
  if (mid != "UNetMidBlock2DCrossAttn") fail(ErrorKind::Unsupported, what, ": mid block type \"", mid, "\" is not supported");
  c.heads = per_level(r, what, "num_attention_heads", n);
  c.cross_attention_dim = per_level(r, what, "cross_attention_dim", n);
  c.transformer_layers = per_level(r, what, "transformer_layers_per_block", n);
  c.groups = (int)r.integer("norm_num_groups");
  check_arg(c.groups > 0, what, ": norm_num_groups must be positive");
  c.norm_eps = (float)r.number("norm_eps");
  c.flip_sin_to_cos = r.boolean("flip_sin_to_cos", true);
  c.freq_shift = (float)r.number("freq_shift", 0.0);
  c.time_embed_dim = r.integer("time_embed_dim", c.block_out_channels[0] * 4);
  c.time_embedding_act = activation(r, what, "time_embedding_act_fn");
  c.timestep_post_act = activation(r, what, "timestep_post_act");
  if (r.has("act_fn")) {
    std::string act = r.string("act_fn");
    if (act != "silu" && act != "swish") fail(ErrorKind::Unsupported, what, ": act_fn = \"", act, "\" is not supported");
  }
  c.downsample_padding = (int)r.integer("downsample_padding", 1);
  check_arg(c.downsample_padding >= 0, what, ": downsample_padding must be >= 0");
  c.conv_in_kernel = (int)r.integer("conv_in_kernel", 3);
  check_arg(c.conv_in_kernel > 0 && c.conv_in_kernel % 2 == 1, what, ": conv_in_kernel must be odd");
  c.resnet_out_scale_factor = (float)r.number("resnet_out_scale_factor", 1.0);
  c.mid_block_scale_factor = (float)r.number("mid_block_scale_factor", 1.0);
  if (r.has("addition_embed_type")) {
    std::string type = r.string("addition_embed_type");
    if (type != "text_time") fail(ErrorKind::Unsupported, what, ": addition_embed_type = \"", type, "\" is not supported");
    c.text_time = true;
    c.addition_time_embed_dim = r.integer("addition_time_embed_dim");
    c.projection_class_embeddings_input_dim = r.integer("projection_class_embeddings_input_dim");
    check_arg(c.addition_time_embed_dim > 0 && c.addition_time_embed_dim % 2 == 0, what,
              ": addition_time_embed_dim must be a positive even number, found ", c.addition_time_embed_dim);
    check_arg(c.projection_class_embeddings_input_dim > 0, what,
              ": projection_class_embeddings_input_dim must be positive, found ", c.projection_class_embeddings_input_dim);
  }
  c.has_decoder = with_decoder;
  if (with_decoder) {
    c.out_channels = r.integer("out_channels");
    std::vector<std::string> up = r.strings("up_block_types");
    check_arg(up.size() == n, what, ": up_block_types must have ", n, " entries");
    for (const auto& t : up) {
      if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D")
        fail(ErrorKind::Unsupported, what, ": up block type \"", t, "\" is not supported");
      c.up_attention.push_back(t == "CrossAttnUpBlock2D");
    }
    c.up_transformer_layers = r.has("reverse_transformer_layers_per_block")
                                  ? per_level(r, what, "reverse_transformer_layers_per_block", n)
                                  : std::vector<int64_t>(c.transformer_layers.rbegin(), c.transformer_layers.rend());
    c.conv_out_kernel = (int)r.integer("conv_out_kernel", 3);
    check_arg(c.conv_out_kernel > 0 && c.conv_out_kernel % 2 == 1, what, ": conv_out_kernel must be odd");
  }
  return c;
}

}  // namespace indetail
