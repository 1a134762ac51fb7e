// The part of the SD UNet that the ControlNet shares: time embedding, conv_in, the down blocks
// and the mid block, built from the config with diffusers' weight names.
#pragma once
#include <vector>

#include "../core/cancel.h"
#include "unet_blocks.h"
#include "unet_config.h"

namespace indetail {

struct UNetEncoder {
  UNetConfig cfg;
  BlockSettings settings;
  LinearLayer time_linear_1, time_linear_2;
  ConvLayer conv_in;
  std::vector<DownBlock> down;
  MidBlock mid;
  std::vector<int64_t> skip_channels;  // every skip connection (conv_in, then each down-block output), in order

  static UNetEncoder load(WeightLoader& L, const UNetConfig& cfg);

  // One timestep per frame -> act(time embedding) [N, temb], the input of every resnet.
  Tensor time_embedding(Backend& be, const std::vector<float>& timesteps) const;
  // The same from timesteps already on the backend (upload_timesteps; CUDA graphs refill such a
  // tensor before each replay instead of uploading, which synchronises).
  Tensor time_embedding(Backend& be, const Tensor& timesteps) const;
  // Timesteps as time_embedding takes them: [N] in the backend's compute dtype.
  static Tensor upload_timesteps(Backend& be, const std::vector<float>& timesteps);
  // The down blocks then the mid block on conv_in's output `h` (its skip connections appended to
  // `skips`), polling `cancel` before each block; `what` ("UNet", "ControlNet") names the check points.
  Tensor down_and_mid(Backend& be, Tensor h, const Tensor& temb, const Tensor& context, std::vector<Tensor>& skips,
                      const CancelToken* cancel, const char* what) const;
  // Checks the inputs every forward takes; `what` names the model in messages.
  void check_inputs(const Backend& be, const char* what, const Tensor& sample, const std::vector<float>& timesteps,
                    const Tensor& context) const;
  void check_inputs(const Backend& be, const char* what, const Tensor& sample, int64_t timestep_count,
                    const Tensor& context) const;
};

// Checks that `t` lives on `be` in its compute dtype; `name` says which argument it is.
void check_activation(const Backend& be, const char* what, const std::string& name, const Tensor& t);

}  // namespace indetail
