#include "vit_layers.h"

#include <algorithm>
#include <cstring>

#include "../core/error.h"
#include "transformer_config.h"
#include "vit_positions.h"

namespace indetail {

VitConfig VitConfig::read(const ConfigReader& r, const std::string& what) {
  VitConfig c;
  c.hidden_size = r.positive_integer("hidden_size");
  c.intermediate_size = r.positive_integer("intermediate_size");
  c.num_attention_heads = r.positive_integer("num_attention_heads");
  c.num_hidden_layers = r.positive_integer("num_hidden_layers");
  c.image_size = r.positive_integer("image_size");
  c.patch_size = r.positive_integer("patch_size");
  c.num_channels = r.positive_integer("num_channels");
  c.layer_norm_eps = (float)r.positive_number("layer_norm_eps");
  c.hidden_act = read_hidden_act(r);
  check_heads_divide(r, c.hidden_size, c.num_attention_heads);
  if (c.image_size % c.patch_size != 0)
    fail(ErrorKind::InvalidArgument, what, ": image_size ", c.image_size, " is not a multiple of patch_size ", c.patch_size);
  return c;
}

PreNormEncoderLayer PreNormEncoderLayer::load(WeightLoader& L, const std::string& prefix, const EncoderLayerNames& n,
                                              const VitConfig& c, bool qkv_bias) {
  const int64_t C = c.hidden_size, I = c.intermediate_size;
  const std::string p = prefix + ".";
  PreNormEncoderLayer l;
  l.ln1 = NormLayer::load(L, p + n.ln1, C);
  l.ln2 = NormLayer::load(L, p + n.ln2, C);
  l.attn.heads = c.num_attention_heads;
  l.attn.dim_head = c.head_dim();
  l.attn.to_q = LinearLayer::load(L, p + n.q, C, C, qkv_bias);
  l.attn.to_k = LinearLayer::load(L, p + n.k, C, C, qkv_bias);
  l.attn.to_v = LinearLayer::load(L, p + n.v, C, C, qkv_bias);
  l.attn.to_out = LinearLayer::load(L, p + n.out, C, C, true);
  l.fc1 = LinearLayer::load(L, p + n.fc1, I, C, true);
  l.fc2 = LinearLayer::load(L, p + n.fc2, C, I, true);
  return l;
}

Tensor PreNormEncoderLayer::operator()(Backend& be, const Tensor& x, const VitConfig& c) const {
  Tensor h = ln1.layer_norm(be, x, c.layer_norm_eps);
  Tensor x1 = attn(be, h, nullptr, &x);  // x + out_proj(attention(h))
  h = ln2.layer_norm(be, x1, c.layer_norm_eps);
  Tensor f = fc1(be, h, nullptr, c.hidden_act);
  h = Tensor();
  return fc2(be, f, &x1);
}

Tensor PreNormEncoderLayer::class_token(Backend& be, const Tensor& x, const VitConfig& c) const {
  Tensor h = ln1.layer_norm(be, x, c.layer_norm_eps);
  Tensor x0 = class_tokens(be, x);
  Tensor x1 = attn(be, class_tokens(be, h), &h, &x0);  // the class token's query against every key
  h = ln2.layer_norm(be, x1, c.layer_norm_eps);
  Tensor f = fc1(be, h, nullptr, c.hidden_act);
  return fc2(be, f, &x1);
}

Tensor class_tokens(Backend& be, const Tensor& x) {
  const int64_t N = x.size(0), T = x.size(1), C = x.size(2);
  Tensor out = be.empty({N, 1, C});
  Tensor rows = x.reshape({N * T, C});
  for (int64_t n = 0; n < N; ++n) {
    Tensor dst = out.slice0(n, 1).reshape({1, C});
    be.copy(rows.slice0(n * T, 1), dst);
  }
  return out;
}

Tensor PreNormEncoderLayer::keys(Backend& be, const Tensor& x, const VitConfig& c) const {
  return attn.to_k(be, ln1.layer_norm(be, x, c.layer_norm_eps));
}

namespace {

Tensor host_rows(const Tensor& t, int64_t start, int64_t count) {
  const int64_t C = t.size(-1);
  Tensor out = Tensor::host_uninitialized(DType::F32, {count, C});
  std::memcpy(out.raw(), t.data<float>() + start * C, (size_t)(count * C) * sizeof(float));
  return out;
}

}  // namespace

PatchEmbedding::PatchEmbedding(Backend& be, ConvLayer conv, const Tensor& class_token, const Tensor& positions,
                               const VitConfig& c, PositionRule rule, std::string what)
    : conv_(std::move(conv)), config_(c), rule_(rule), what_(std::move(what)), positions_host_(positions) {
  const int64_t C = c.hidden_size, g = c.grid();
  Tensor row = host_rows(positions, 0, 1);
  float* r = row.data<float>();
  const float* cls = class_token.data<float>();
  for (int64_t i = 0; i < C; ++i) r[i] = cls[i] + r[i];
  class_row_ = be.upload(row);
  grid_positions_ = be.upload(host_rows(positions, 1, g * g).reshape({1, g, g, C}));
}

int64_t PatchEmbedding::tokens(int64_t height, int64_t width) const {
  const int64_t p = config_.patch_size, s = config_.image_size;
  if (rule_ == PositionRule::Fixed) {
    check_arg(height == s && width == s, what_, ": the input is ", height, "x", width, " pixels but this model takes ", s, "x", s,
              " (its position embeddings are not interpolated)");
  } else {
    check_arg(height >= p && width >= p, what_, ": the input (", height, "x", width, " pixels) is smaller than one ", p, "x", p,
              " patch");
  }
  return 1 + (height / p) * (width / p);
}

Tensor PatchEmbedding::patch_positions(Backend& be, int64_t height, int64_t width) const {
  const int64_t p = config_.patch_size, g = config_.grid(), C = config_.hidden_size;
  if (rule_ == PositionRule::Fixed || !dino_interpolates(height, width, p, g)) return grid_positions_;
  const int64_t gh = height / p, gw = width / p;
  Tensor resized = dino_interpolate_positions(host_rows(positions_host_, 1, g * g), g, gh, gw);
  return be.upload(resized.reshape({1, gh, gw, C}));
}

Tensor PatchEmbedding::operator()(Backend& be, const Tensor& pixels) const {
  check_arg(pixels.dim() == 4 && pixels.size(3) == config_.num_channels, what_, ": pixels must be [N, H, W, ",
            config_.num_channels, "], got ", pixels.describe());
  const int64_t N = pixels.size(0), H = pixels.size(1), W = pixels.size(2), C = config_.hidden_size;
  const int64_t T = tokens(H, W), gh = H / config_.patch_size, gw = W / config_.patch_size;
  Tensor positions = patch_positions(be, H, W);
  Tensor x = be.empty({N, T, C});
  Tensor rows = x.reshape({N * T, C});
  for (int64_t n = 0; n < N; ++n) {
    Tensor cls = rows.slice0(n * T, 1);
    be.copy(class_row_, cls);
    Tensor patches = rows.slice0(n * T + 1, T - 1).reshape({1, gh, gw, C});
    be.conv2d(pixels.slice0(n, 1), conv_.w, conv_.b.defined() ? &conv_.b : nullptr, nullptr, &positions, patches, conv_.p);
  }
  return x;
}

std::string first_unused_weight(const WeightLoader& loader, const std::string& prefix,
                                const std::vector<std::string>& ignored) {
  for (const std::string& n : loader.unused()) {
    if (n.rfind(prefix, 0) != 0 || std::find(ignored.begin(), ignored.end(), n) != ignored.end()) continue;
    return n;
  }
  return "";
}

}  // namespace indetail
