#include "unet.h"

#include <atomic>

#include "../core/error.h"

namespace indetail {

UNetModel::UNetModel(std::shared_ptr<Backend> backend, const std::string& config_json, const WeightSource& weights)
    : backend_(std::move(backend)) {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id.fetch_add(1);
  UNetConfig c = read_unet_config(ConfigReader(config_json, "UNet config"), true, "UNet config");
  WeightLoader L(weights, *backend_, "UNet");
  enc_ = UNetEncoder::load(L, c);

  const auto& boc = c.block_out_channels;
  size_t n = c.levels();
  std::vector<int64_t> skips = enc_.skip_channels;
  int64_t out = boc[n - 1];
  for (size_t i = 0; i < n; ++i) {
    size_t level = n - 1 - i;  // up block i mirrors down level n-1-i
    int64_t prev_out = out;
    out = boc[level];
    int64_t layers = c.layers_per_block[level] + 1;
    check_arg((int64_t)skips.size() >= layers, "UNet config: the up blocks consume more skip connections than the down blocks produce");
    std::vector<int64_t> consumed;
    for (int64_t j = 0; j < layers; ++j) {
      consumed.push_back(skips.back());
      skips.pop_back();
    }
    up_.push_back(UpBlock::load(L, "up_blocks." + std::to_string(i), enc_.settings, prev_out, out, consumed,
                                c.up_attention[i], c.heads[level], c.cross_attention_dim[level],
                                c.up_transformer_layers[i], i + 1 < n));
  }
  check_arg(skips.empty(), "UNet config: the up blocks leave ", skips.size(), " skip connections unused");
  for (auto& u : up_)
    for (auto& a : u.attentions)
      for (auto& b : a.blocks) b.attn1.kv_slot = (int)kv_layers_++;
  norm_out_ = NormLayer::load(L, "conv_norm_out", boc[0]);
  conv_out_ = ConvLayer::load(L, "conv_out", c.out_channels, boc[0], c.conv_out_kernel);
}

void UNetModel::add_residual(const Tensor& skip, const Tensor& residual, const std::vector<float>& scale,
                             Tensor& out) const {
  Backend& be = *backend_;
  bool uniform = true;
  for (float s : scale) uniform = uniform && s == scale[0];
  if (scale.empty() || uniform) {
    be.add(skip, residual, out, scale.empty() ? 1.0f : scale[0]);
    return;
  }
  Tensor scaled = be.empty(residual.shape());
  be.scale_frames(residual, scale, scaled);
  be.add(skip, scaled, out);
}

Tensor UNetModel::forward(const UNetInputs& in) const {
  check(in);
  return run(in, UNetEncoder::upload_scalars(*backend_, in.timesteps, in.added.time_ids));
}

Tensor UNetModel::forward(const UNetInputs& in, const UNetScalars& s) const {
  Backend& be = *backend_;
  check(in);
  auto on_backend = [&](const Tensor& t, size_t n) {
    return t.defined() && t.dim() == 1 && t.size(0) == (int64_t)n && t.device() == be.device() &&
           t.dtype() == be.compute_dtype();
  };
  check_arg(on_backend(s.timesteps, in.timesteps.size()), "UNet: device timesteps must be a [",
            in.timesteps.size(), "] ", dtype_name(be.compute_dtype()), " tensor on ", be.name(), ", got ",
            s.timesteps.defined() ? s.timesteps.describe() : std::string("nothing"));
  check_arg(in.added.time_ids.empty() || on_backend(s.time_ids, in.added.time_ids.size()), "UNet: device time ids must be a [",
            in.added.time_ids.size(), "] ", dtype_name(be.compute_dtype()), " tensor on ", be.name());
  return run(in, s);
}

void UNetModel::check(const UNetInputs& in) const {
  Backend& be = *backend_;
  enc_.check_inputs(be, "UNet", in.sample, (int64_t)in.timesteps.size(), in.context, in.added);
  int64_t n = in.sample.size(0);
  if (in.control) {
    const UNetControl& control = *in.control;
    check_arg(control.down.size() == enc_.skip_channels.size(), "UNet: control.down must hold ",
              enc_.skip_channels.size(), " residuals (one per skip connection), got ", control.down.size());
    check_arg(control.frame_scale.empty() || (int64_t)control.frame_scale.size() == n,
              "UNet: control frame scale must have one value per frame (", n, "), got ", control.frame_scale.size());
    for (size_t i = 0; i < control.down.size(); ++i)
      check_activation(be, "UNet", "control.down[" + std::to_string(i) + "]", control.down[i]);
    check_activation(be, "UNet", "control.mid", control.mid);
  }
  const RefAttention& policy = in.attention;
  if (policy.ref_kv || policy.record)
    check_arg(kv_layers_ > 0, "UNet: the decoder has no self-attention layers whose keys/values could be cached");
  if (policy.ref_kv) {
    check_arg((int64_t)policy.ref_kv->size() == kv_layers_, "UNet: the cached keys/values hold ", policy.ref_kv->size(),
              " layers but the decoder has ", kv_layers_, " self-attention layers");
  }
  if (policy.mode != RefMode::None) {
    // ref indexes the cached rows when reference keys/values are given, else the batch's frames.
    int64_t refs = policy.ref_kv ? (*policy.ref_kv)[0].k.size(0) : n;
    const char* what = policy.ref_kv ? "a cached row index below " : "a frame index below ";
    check_arg(policy.ref.empty() || (int64_t)policy.ref.size() == n, "UNet: attention.ref must have one entry per frame (",
              n, "), got ", policy.ref.size());
    for (int32_t r : policy.ref)
      check_arg(r >= -1 && r < refs, "UNet: attention.ref entries must be -1 or ", what, refs, ", got ", r);
  }
  if (policy.record) {
    check_arg(!policy.record_rows.empty(), "UNet: recording keys/values needs at least one row");
    for (int32_t r : policy.record_rows)
      check_arg(r >= 0 && r < n, "UNet: rows to record must be frame indices below ", n, ", got ", r);
  }
}

Tensor UNetModel::run(const UNetInputs& in, const UNetScalars& scalars) const {
  Backend& be = *backend_;
  const UNetConfig& c = enc_.cfg;
  const Tensor& context = in.context;
  const UNetControl* control = in.control ? &*in.control : nullptr;
  const RefAttention* policy = &in.attention;
  if (policy->record) policy->record->assign((size_t)kv_layers_, AttnKV{});

  Tensor temb = enc_.time_embedding(be, scalars, in.added.text_embeds);
  Tensor h = enc_.conv_in(be, in.sample);
  std::vector<Tensor> skips{h};
  h = enc_.down_and_mid(be, h, temb, context, skips, in.cancel, "UNet");

  if (control) {
    for (size_t i = 0; i < skips.size(); ++i) {
      check_arg(control->down[i].shape() == skips[i].shape(), "UNet: control.down[", i, "] has shape ",
                shape_str(control->down[i].shape()), " but skip connection ", i, " is ", shape_str(skips[i].shape()));
      Tensor sum = be.empty(skips[i].shape());
      add_residual(skips[i], control->down[i], control->frame_scale, sum);
      skips[i] = sum;
    }
    check_arg(control->mid.shape() == h.shape(), "UNet: control.mid has shape ", shape_str(control->mid.shape()),
              " but the mid block output is ", shape_str(h.shape()));
    Tensor sum = be.empty(h.shape());
    add_residual(h, control->mid, control->frame_scale, sum);
    h = sum;
  }

  for (size_t i = 0; i < up_.size(); ++i) {
    check_cancel(in.cancel, "UNet up block ", i);
    h = up_[i](be, h, temb, context, skips, policy);
  }
  return conv_out_.after_norm(be, norm_out_, NormLayer::group_norm_params(c.groups, c.norm_eps, true), h);
}

}  // namespace indetail
