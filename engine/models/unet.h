// diffusers' UNet2DConditionModel (Stable Diffusion 1.x/2.x family) built from its config, with
// weights resident on one backend. Forward: noisy latents NHWC [N, H, W, Cin], one timestep per
// frame, text context [N, L, C]; optional ControlNet residuals (one per skip connection plus the
// mid block, in diffusers' order) with an optional per-frame scale; and the image-prompt
// attention policy, applied to the self-attention (attn1) of the up blocks only. Those layers can
// also record the keys/values of chosen rows, or read the reference keys/values from such a
// record instead of the batch (RefAttention::record / ref_kv; the image-prompt K/V cache).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../core/cancel.h"
#include "unet_encoder.h"

namespace indetail {

struct UNetControl {
  std::vector<Tensor> down;  // [N, h, w, c] per skip connection
  Tensor mid;
  std::vector<float> frame_scale;  // per frame (empty = 1): multiplies the residuals of each frame
};

class UNetModel {
 public:
  // config_json: the normalised config (ts/models/unet-config.ts).
  UNetModel(std::shared_ptr<Backend> backend, const std::string& config_json, const WeightSource& weights);

  // cancel (optional): polled before every down block, the mid block and every up block.
  Tensor forward(const Tensor& sample, const std::vector<float>& timesteps, const Tensor& context,
                 const UNetControl* control, const RefAttention* decoder_self_attention,
                 const CancelToken* cancel = nullptr) const;
  // The same with the timesteps already on the backend: [N] in its compute dtype, as
  // UNetEncoder::upload_timesteps makes them (what a CUDA graph records: no upload inside).
  Tensor forward_with_device_timesteps(const Tensor& sample, const Tensor& timesteps, const Tensor& context,
                                       const UNetControl* control, const RefAttention* decoder_self_attention,
                                       const CancelToken* cancel = nullptr) const;

  const UNetConfig& config() const { return enc_.cfg; }
  // Number of decoder self-attention layers (the length of a DecoderKV of this model).
  int64_t kv_layers() const { return kv_layers_; }
  // Unique per loaded model (a K/V cache is only read by the model that recorded it).
  uint64_t id() const { return id_; }
  size_t skip_count() const { return enc_.skip_channels.size(); }
  const std::shared_ptr<Backend>& backend() const { return backend_; }

 private:
  Tensor run(const Tensor& sample, const Tensor& timesteps, const Tensor& context, const UNetControl* control,
             const RefAttention* policy, const CancelToken* cancel) const;
  void add_residual(const Tensor& skip, const Tensor& residual, const std::vector<float>& scale, Tensor& out) const;

  std::shared_ptr<Backend> backend_;
  uint64_t id_ = 0;
  int64_t kv_layers_ = 0;
  UNetEncoder enc_;
  std::vector<UpBlock> up_;
  NormLayer norm_out_;
  ConvLayer conv_out_;
};

}  // namespace indetail
