// AutoencoderKL (diffusers v0.26, DownEncoderBlock2D / UpDecoderBlock2D with mid-block
// attention) built from its vae/config.json (normalised in ts/models/vae-config.ts) and weights
// by diffusers names. Images are NHWC in [-1, 1]; latents NHWC, unscaled: the caller multiplies
// the mean by scaling_factor after encode and divides by it before decode.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../backend.h"
#include "../core/cancel.h"
#include "vae_blocks.h"
#include "weights.h"

namespace indetail {

struct VaeConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  int64_t layers_per_block = 2;
  int norm_num_groups = 32;
  std::vector<int64_t> block_out_channels;

  // Reads the fields above (all required) and checks they are consistent.
  static VaeConfig parse(const std::string& json_text);
  // Image pixels per latent pixel: 2^(number of blocks - 1).
  int64_t factor() const { return (int64_t)1 << (block_out_channels.size() - 1); }
};

// When tiling is on, encode/decode run tile by tile (engine/models/vae_tiling.h).
struct VaeTiling {
  bool enabled = false;
  int64_t tile_size = 512;  // image pixels per tile side (a multiple of the VAE factor)
  int64_t overlap = 128;    // image pixels shared by neighbouring tiles (a multiple of the factor)
  // true: only the full-resolution layers run per tile; the latent-resolution ones (the mid
  // block's attention over all positions) run once on the whole latent, exactly as untiled.
  // false: the whole encoder / decoder runs per tile (as diffusers' enable_tiling does).
  bool global_mid_block = true;
};

class VaeEncoder {
 public:
  VaeEncoder(const VaeConfig& cfg, WeightLoader& w);
  // x: [N, H, W, in_channels] -> moments [N, H/f, W/f, 2·latent_channels] (after quant_conv).
  // `cancel` is polled before every down block and the mid block.
  Tensor forward(Backend& b, const Tensor& x, const CancelToken* cancel) const {
    return moments(b, features(b, x, cancel), cancel);
  }
  // The full-resolution part, conv_in and the down blocks: -> [N, H/f, W/f, block_out_channels[-1]]
  Tensor features(Backend& b, const Tensor& x, const CancelToken* cancel) const;
  // The latent-resolution part: mid block, conv_norm_out, conv_out, quant_conv.
  Tensor moments(Backend& b, const Tensor& features, const CancelToken* cancel) const;
  int64_t feature_channels() const { return feature_channels_; }

 private:
  struct Down {
    std::vector<VaeResnet> resnets;
    std::unique_ptr<VaeDownsample> down;
  };
  int64_t feature_channels_;
  int groups_;
  ConvLayer conv_in_, conv_out_, quant_conv_;
  std::vector<Down> blocks_;
  std::unique_ptr<VaeMidBlock> mid_;
  NormLayer norm_out_;
};

class VaeDecoder {
 public:
  VaeDecoder(const VaeConfig& cfg, WeightLoader& w);
  // z: [N, h, w, latent_channels] (unscaled) -> image [N, h·f, w·f, out_channels].
  // `cancel` is polled before the mid block and every up block.
  Tensor forward(Backend& b, const Tensor& z, const CancelToken* cancel) const {
    return image(b, features(b, z, cancel), cancel);
  }
  // The latent-resolution part: post_quant_conv, conv_in, mid block -> [N, h, w, block_out_channels[-1]]
  Tensor features(Backend& b, const Tensor& z, const CancelToken* cancel) const;
  // The up blocks, conv_norm_out and conv_out -> [N, h·f, w·f, out_channels]
  Tensor image(Backend& b, const Tensor& features, const CancelToken* cancel) const;

 private:
  struct Up {
    std::vector<VaeResnet> resnets;
    std::unique_ptr<VaeUpsample> up;
  };
  int groups_;
  ConvLayer post_quant_conv_, conv_in_, conv_out_;
  std::unique_ptr<VaeMidBlock> mid_;
  std::vector<Up> blocks_;
  NormLayer norm_out_;
};

class AutoencoderKL {
 public:
  AutoencoderKL(const VaeConfig& cfg, const WeightSource& weights, std::shared_ptr<Backend> backend);

  struct Posterior {
    Tensor mean;    // [N, h, w, latent_channels]
    Tensor logvar;  // clamped to [-30, 20] as DiagonalGaussianDistribution does
  };
  // image: [N, H, W, in_channels] on the backend, H and W multiples of factor().
  // cancel (optional): polled between blocks, and before every tile when tiled.
  Posterior encode(const Tensor& image, const VaeTiling& tiling, const CancelToken* cancel = nullptr) const;
  // latents: [N, h, w, latent_channels] on the backend (already divided by scaling_factor).
  Tensor decode(const Tensor& latents, const VaeTiling& tiling, const CancelToken* cancel = nullptr) const;

  const VaeConfig& config() const { return cfg_; }
  // Weights of the source that the config did not ask for (a config/checkpoint mismatch when
  // not empty); always empty for random weights.
  const std::vector<std::string>& unused_weights() const { return unused_; }
  const std::shared_ptr<Backend>& backend() const { return backend_; }

 private:
  void check_tiling(const VaeTiling& t) const;
  VaeConfig cfg_;
  std::shared_ptr<Backend> backend_;
  std::unique_ptr<VaeEncoder> encoder_;
  std::unique_ptr<VaeDecoder> decoder_;
  std::vector<std::string> unused_;
};

}  // namespace indetail
