// diffusers' ControlNetModel built from its config: the UNet encoder (time embedding, conv_in,
// down blocks, mid block) plus the conditioning-image embedding added after conv_in, and 1×1
// "zero convolutions" on every skip connection and on the mid block output, scaled by the
// conditioning scale. The outputs are the UNet's control residuals, in diffusers' order.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "unet_encoder.h"

namespace indetail {

struct ControlNetOutput {
  std::vector<Tensor> down;
  Tensor mid;
};

class ControlNetModel {
 public:
  ControlNetModel(std::shared_ptr<Backend> backend, const std::string& config_json, const WeightSource& weights);

  // cond: NHWC [N or 1, f·H, f·W, conditioning_channels] in [0, 1], f = 2^(conditioning blocks);
  // one conditioning frame is shared by every frame of the batch.
  // cancel (optional): polled before every down block and the mid block.
  ControlNetOutput forward(const Tensor& sample, const std::vector<float>& timesteps, const Tensor& context,
                           const Tensor& cond, float conditioning_scale, const CancelToken* cancel = nullptr) const;

  const UNetConfig& config() const { return enc_.cfg; }
  const std::shared_ptr<Backend>& backend() const { return backend_; }

 private:
  Tensor embed_condition(const Tensor& cond) const;

  std::shared_ptr<Backend> backend_;
  UNetEncoder enc_;
  int64_t cond_channels_ = 3;
  int64_t cond_factor_ = 8;  // conditioning image size / latent size
  ConvLayer cond_in_;
  std::vector<ConvLayer> cond_blocks_;
  ConvLayer cond_out_;
  std::vector<ConvLayer> zero_down_;
  ConvLayer zero_mid_;
};

}  // namespace indetail
