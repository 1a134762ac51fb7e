// The part of the SD UNet that the ControlNet shares: time embedding (with SDXL's added
// text/time embedding), conv_in, the down blocks and the mid block, built from the config with
// diffusers' weight names.
#pragma once
#include <vector>

#include "../core/cancel.h"
#include "unet_blocks.h"
#include "unet_config.h"
#include "unet_inputs.h"

namespace indetail {

struct UNetEncoder {
  UNetConfig cfg;
  BlockSettings settings;
  LinearLayer time_linear_1, time_linear_2;
  LinearLayer add_linear_1, add_linear_2;  // add_embedding (cfg.text_time only)
  ConvLayer conv_in;
  std::vector<DownBlock> down;
  MidBlock mid;
  std::vector<int64_t> skip_channels;  // every skip connection (conv_in, then each down-block output), in order

  static UNetEncoder load(WeightLoader& L, const UNetConfig& cfg);

  // The per-frame numbers on the backend -> act(time embedding) [N, temb], the input of every
  // resnet. text_embeds: [N, P] with cfg.text_time (then s.time_ids holds N × T ids), else undefined.
  Tensor time_embedding(Backend& be, const UNetScalars& s, const Tensor& text_embeds) const;
  // Timesteps (and time ids) as time_embedding takes them: in the backend's compute dtype.
  static UNetScalars upload_scalars(Backend& be, const std::vector<float>& timesteps,
                                    const std::vector<float>& time_ids = {});
  // The down blocks then the mid block on conv_in's output `h` (its skip connections appended to
  // `skips`), polling `cancel` before each block; `what` ("UNet", "ControlNet") names the check points.
  Tensor down_and_mid(Backend& be, Tensor h, const Tensor& temb, const Tensor& context, std::vector<Tensor>& skips,
                      const CancelToken* cancel, const char* what) const;
  // Checks the inputs every forward takes; `what` names the model in messages.
  void check_inputs(const Backend& be, const char* what, const Tensor& sample, int64_t timestep_count,
                    const Tensor& context, const TextTimeConditions& added) const;
};

// Checks that `t` lives on `be` in its compute dtype; `name` says which argument it is.
void check_activation(const Backend& be, const char* what, const std::string& name, const Tensor& t);

}  // namespace indetail
