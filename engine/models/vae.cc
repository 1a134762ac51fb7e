#include "vae.h"

#include <algorithm>

#include "../core/error.h"
#include "config_reader.h"
#include "vae_tiling.h"

namespace indetail {

VaeConfig VaeConfig::parse(const std::string& json_text) {
  ConfigReader r(json_text, "VAE config");
  VaeConfig c;
  c.in_channels = r.integer("in_channels");
  c.out_channels = r.integer("out_channels");
  c.latent_channels = r.integer("latent_channels");
  c.layers_per_block = r.integer("layers_per_block");
  c.norm_num_groups = (int)r.integer("norm_num_groups");
  c.block_out_channels = r.integers("block_out_channels");
  check_arg(c.in_channels > 0 && c.out_channels > 0 && c.latent_channels > 0 && c.layers_per_block > 0,
            "VAE config: in_channels, out_channels, latent_channels and layers_per_block must be positive");
  check_arg(!c.block_out_channels.empty() && c.block_out_channels.size() <= 8,
            "VAE config: block_out_channels must list 1 to 8 levels");
  check_arg(c.norm_num_groups > 0, "VAE config: norm_num_groups must be positive");
  for (size_t i = 0; i < c.block_out_channels.size(); ++i)
    check_arg(c.block_out_channels[i] > 0 && c.block_out_channels[i] % c.norm_num_groups == 0,
              "VAE config: block_out_channels[", i, "] = ", c.block_out_channels[i],
              " must be a positive multiple of norm_num_groups = ", c.norm_num_groups);
  return c;
}

// --- encoder ---------------------------------------------------------------------------------

VaeEncoder::VaeEncoder(const VaeConfig& cfg, WeightLoader& w)
    : feature_channels_(cfg.block_out_channels.back()), groups_(cfg.norm_num_groups) {
  const auto& ch = cfg.block_out_channels;
  conv_in_ = ConvLayer::load(w, "encoder.conv_in", ch[0], cfg.in_channels, 3);
  int64_t out = ch[0];
  for (size_t i = 0; i < ch.size(); ++i) {
    const int64_t in = out;
    out = ch[i];
    const std::string p = "encoder.down_blocks." + std::to_string(i);
    Down d;
    for (int64_t j = 0; j < cfg.layers_per_block; ++j)
      d.resnets.emplace_back(w, p + ".resnets." + std::to_string(j), j == 0 ? in : out, out, groups_);
    if (i + 1 < ch.size()) d.down = std::make_unique<VaeDownsample>(w, p + ".downsamplers.0", out);
    blocks_.push_back(std::move(d));
  }
  mid_ = std::make_unique<VaeMidBlock>(w, "encoder.mid_block", ch.back(), groups_);
  norm_out_ = NormLayer::load(w, "encoder.conv_norm_out", ch.back());
  conv_out_ = ConvLayer::load(w, "encoder.conv_out", 2 * cfg.latent_channels, ch.back(), 3);
  quant_conv_ = ConvLayer::load(w, "quant_conv", 2 * cfg.latent_channels, 2 * cfg.latent_channels, 1);
}

Tensor VaeEncoder::features(Backend& b, const Tensor& x, const CancelToken* cancel) const {
  Tensor h = conv_in_(b, x);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Down& d = blocks_[i];
    check_cancel(cancel, "VAE encoder down block ", i);
    for (const VaeResnet& r : d.resnets) h = r.forward(b, h);
    if (d.down) h = d.down->forward(b, h);
    b.release_cached_memory();  // the next level's tensors are 4x smaller: these blocks would idle
  }
  return h;
}

Tensor VaeEncoder::moments(Backend& b, const Tensor& features, const CancelToken* cancel) const {
  check_cancel(cancel, "VAE encoder mid block");
  Tensor h = mid_->forward(b, features);
  h = conv_out_.after_group_norm(b, norm_out_, h, NormLayer::params(groups_, kVaeNormEps, true));
  return quant_conv_(b, h);
}

// --- decoder ---------------------------------------------------------------------------------

VaeDecoder::VaeDecoder(const VaeConfig& cfg, WeightLoader& w) : groups_(cfg.norm_num_groups) {
  const auto& ch = cfg.block_out_channels;
  post_quant_conv_ = ConvLayer::load(w, "post_quant_conv", cfg.latent_channels, cfg.latent_channels, 1);
  conv_in_ = ConvLayer::load(w, "decoder.conv_in", ch.back(), cfg.latent_channels, 3);
  mid_ = std::make_unique<VaeMidBlock>(w, "decoder.mid_block", ch.back(), groups_);
  std::vector<int64_t> rev(ch.rbegin(), ch.rend());
  int64_t out = rev[0];
  for (size_t i = 0; i < rev.size(); ++i) {
    const int64_t in = out;
    out = rev[i];
    const std::string p = "decoder.up_blocks." + std::to_string(i);
    Up u;
    for (int64_t j = 0; j <= cfg.layers_per_block; ++j)
      u.resnets.emplace_back(w, p + ".resnets." + std::to_string(j), j == 0 ? in : out, out, groups_);
    if (i + 1 < rev.size()) u.up = std::make_unique<VaeUpsample>(w, p + ".upsamplers.0", out);
    blocks_.push_back(std::move(u));
  }
  norm_out_ = NormLayer::load(w, "decoder.conv_norm_out", ch[0]);
  conv_out_ = ConvLayer::load(w, "decoder.conv_out", cfg.out_channels, ch[0], 3);
}

Tensor VaeDecoder::features(Backend& b, const Tensor& z, const CancelToken* cancel) const {
  Tensor h = post_quant_conv_(b, z);
  h = conv_in_(b, h);
  check_cancel(cancel, "VAE decoder mid block");
  return mid_->forward(b, h);
}

Tensor VaeDecoder::image(Backend& b, const Tensor& features, const CancelToken* cancel) const {
  Tensor h = features;  // a handle; blocks never write their input
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Up& u = blocks_[i];
    check_cancel(cancel, "VAE decoder up block ", i);
    for (const VaeResnet& r : u.resnets) h = r.forward(b, h);
    if (u.up) h = u.up->forward(b, h);
    b.release_cached_memory();  // the next level's tensors are 4x larger: these blocks would idle
  }
  return conv_out_.after_group_norm(b, norm_out_, h, NormLayer::params(groups_, kVaeNormEps, true));
}

// --- the autoencoder -------------------------------------------------------------------------

AutoencoderKL::AutoencoderKL(const VaeConfig& cfg, const WeightSource& weights, std::shared_ptr<Backend> backend)
    : cfg_(cfg), backend_(std::move(backend)) {
  WeightLoader w(weights, *backend_, "VAE");
  encoder_ = std::make_unique<VaeEncoder>(cfg_, w);
  decoder_ = std::make_unique<VaeDecoder>(cfg_, w);
  unused_ = w.unused();
}

void AutoencoderKL::check_tiling(const VaeTiling& t) const {
  if (!t.enabled) return;
  const int64_t f = cfg_.factor();
  check_arg(t.tile_size > 0 && t.tile_size % f == 0, "VAE tiling: tileSize ", t.tile_size,
            " must be a positive multiple of ", f);
  check_arg(t.overlap >= 0 && t.overlap % f == 0 && t.overlap < t.tile_size, "VAE tiling: overlap ", t.overlap,
            " must be a multiple of ", f, " smaller than tileSize ", t.tile_size);
}

namespace {

// The VAE runs once per image: the allocator's free blocks are handed back before it runs (the
// denoising loop's) and after (its own), so that the two are never held at once.
struct ReleaseCachedMemory {
  Backend& b;
  explicit ReleaseCachedMemory(Backend& be) : b(be) { b.release_cached_memory(); }
  ~ReleaseCachedMemory() { b.release_cached_memory(); }
};

}  // namespace

AutoencoderKL::Posterior AutoencoderKL::encode(const Tensor& image, const VaeTiling& tiling,
                                               const CancelToken* cancel) const {
  Backend& b = *backend_;
  ReleaseCachedMemory release(b);
  const int64_t f = cfg_.factor(), c = cfg_.in_channels, l = cfg_.latent_channels;
  check_arg(image.dim() == 4 && image.size(3) == c, "VAE encode: image must be NHWC [N, H, W, ", c, "], got ",
            image.describe());
  check_arg(image.size(0) > 0 && image.size(1) > 0 && image.size(2) > 0 && image.size(1) % f == 0 &&
                image.size(2) % f == 0,
            "VAE encode: image height ", image.size(1), " and width ", image.size(2), " must be positive multiples of ", f);
  check_tiling(tiling);
  Tensor moments;  // host [N, h, w, 2L]
  if (tiling.enabled) {
    TiledPass pass;
    pass.in_scale = f;
    pass.tile = tiling.tile_size / f;
    pass.overlap = tiling.overlap / f;
    pass.cancel = cancel;
    if (tiling.global_mid_block) {
      // Only the full-resolution down blocks run per tile; their blended features go through the
      // mid block (global attention) and the output layers in one pass at latent resolution.
      pass.out_channels = encoder_->feature_channels();
      Tensor feats = run_tiled(b, image, pass, [&](const Tensor& t) { return encoder_->features(b, t, cancel); });
      moments = b.download(encoder_->moments(b, b.upload(feats), cancel));
    } else {
      pass.out_channels = 2 * l;
      moments = run_tiled(b, image, pass, [&](const Tensor& t) { return encoder_->forward(b, t, cancel); });
    }
  } else {
    moments = b.download(encoder_->forward(b, image, cancel));
  }
  // DiagonalGaussianDistribution: mean, logvar = moments.chunk(2, channels); logvar clamped.
  const int64_t pixels = moments.numel() / (2 * l);
  Shape shape{moments.size(0), moments.size(1), moments.size(2), l};
  Tensor mean = Tensor::host_uninitialized(DType::F32, shape), logvar = Tensor::host_uninitialized(DType::F32, shape);
  const float* m = moments.data<float>();
  float* mp = mean.data<float>();
  float* lp = logvar.data<float>();
  for (int64_t p = 0; p < pixels; ++p)
    for (int64_t ch = 0; ch < l; ++ch) {
      mp[p * l + ch] = m[p * 2 * l + ch];
      lp[p * l + ch] = std::min(20.0f, std::max(-30.0f, m[p * 2 * l + l + ch]));
    }
  return {b.upload(mean), b.upload(logvar)};
}

Tensor AutoencoderKL::decode(const Tensor& latents, const VaeTiling& tiling, const CancelToken* cancel) const {
  Backend& b = *backend_;
  ReleaseCachedMemory release(b);
  const int64_t l = cfg_.latent_channels;
  check_arg(latents.dim() == 4 && latents.size(3) == l, "VAE decode: latents must be NHWC [N, h, w, ", l, "], got ",
            latents.describe());
  check_arg(latents.size(0) > 0 && latents.size(1) > 0 && latents.size(2) > 0, "VAE decode: latents ",
            latents.describe(), " are empty");
  check_tiling(tiling);
  if (!tiling.enabled) return decoder_->forward(b, latents, cancel);
  const int64_t f = cfg_.factor();
  TiledPass pass;
  pass.out_scale = f;
  pass.out_channels = cfg_.out_channels;
  pass.tile = tiling.tile_size / f;
  pass.overlap = tiling.overlap / f;
  pass.cancel = cancel;
  if (!tiling.global_mid_block)
    return b.upload(run_tiled(b, latents, pass, [&](const Tensor& t) { return decoder_->forward(b, t, cancel); }));
  // The latent-resolution part (mid block: global attention) runs once on the whole latent;
  // only the up blocks, where the memory goes, run per tile.
  Tensor feats = decoder_->features(b, latents, cancel);
  return b.upload(run_tiled(b, feats, pass, [&](const Tensor& t) { return decoder_->image(b, t, cancel); }));
}

}  // namespace indetail
