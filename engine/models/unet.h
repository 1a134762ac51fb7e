// diffusers' UNet2DConditionModel (Stable Diffusion 1.x/2.x and XL) built from its config, with
// weights resident on one backend. A forward takes one UNetInputs (unet_inputs.h): noisy latents
// NHWC [N, H, W, Cin], one timestep per frame, text context [N, L, C], SDXL's added conditions
// (pooled text embedding and time ids, addition_embed_type "text_time"), optional ControlNet
// residuals (one per skip connection plus the mid block, in diffusers' order) with an optional
// per-frame scale, and the image-prompt attention policy, applied to the self-attention (attn1) of
// the up blocks only. Those layers can also record the keys/values of chosen rows, or read the
// reference keys/values from such a record instead of the batch (RefAttention::record / ref_kv;
// the image-prompt K/V cache).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "unet_encoder.h"
#include "unet_inputs.h"

namespace indetail {

class UNetModel {
 public:
  // config_json: the normalised config (ts/models/unet-config.ts).
  UNetModel(std::shared_ptr<Backend> backend, const std::string& config_json, const WeightSource& weights);

  Tensor forward(const UNetInputs& in) const;
  // The same with the per-frame numbers already on the backend (UNetEncoder::upload_scalars): what
  // a CUDA graph records (no upload inside); in.timesteps / in.added.time_ids give only the counts.
  Tensor forward(const UNetInputs& in, const UNetScalars& scalars) const;
  // Checks everything a forward checks before any work is queued (throws naming the input).
  void check(const UNetInputs& in) const;

  const UNetConfig& config() const { return enc_.cfg; }
  // Number of decoder self-attention layers (the length of a DecoderKV of this model).
  int64_t kv_layers() const { return kv_layers_; }
  // Unique per loaded model (a K/V cache is only read by the model that recorded it).
  uint64_t id() const { return id_; }
  size_t skip_count() const { return enc_.skip_channels.size(); }
  const std::shared_ptr<Backend>& backend() const { return backend_; }

 private:
  Tensor run(const UNetInputs& in, const UNetScalars& scalars) const;
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
