#include "vae_blocks.h"

#include <cmath>

namespace indetail {

VaeResnet::VaeResnet(WeightLoader& w, const std::string& prefix, int64_t cin, int64_t cout, int groups)
    : groups_(groups),
      norm1_(NormLayer::load(w, prefix + ".norm1", cin)),
      norm2_(NormLayer::load(w, prefix + ".norm2", cout)),
      conv1_(ConvLayer::load(w, prefix + ".conv1", cout, cin, 3)),
      conv2_(ConvLayer::load(w, prefix + ".conv2", cout, cout, 3)),
      has_shortcut_(cin != cout) {
  if (has_shortcut_) shortcut_ = ConvLayer::load(w, prefix + ".conv_shortcut", cout, cin, 1);
}

Tensor VaeResnet::forward(Backend& b, const Tensor& x) const {
  const GroupNormParams gn = NormLayer::group_norm_params(groups_, kVaeNormEps, true);
  Tensor h = conv1_.after_norm(b, norm1_, gn, x);
  if (!has_shortcut_) return conv2_.after_norm(b, norm2_, gn, h, nullptr, &x);
  Tensor sc = shortcut_(b, x);
  return conv2_.after_norm(b, norm2_, gn, h, nullptr, &sc);
}

VaeAttention::VaeAttention(WeightLoader& w, const std::string& prefix, int64_t channels, int groups)
    : c_(channels),
      groups_(groups),
      norm_(NormLayer::load(w, prefix + ".group_norm", channels)),
      to_q_(LinearLayer::load(w, prefix + ".to_q", channels, channels)),
      to_k_(LinearLayer::load(w, prefix + ".to_k", channels, channels)),
      to_v_(LinearLayer::load(w, prefix + ".to_v", channels, channels)),
      to_out_(LinearLayer::load(w, prefix + ".to_out.0", channels, channels)) {}

Tensor VaeAttention::forward(Backend& b, const Tensor& x) const {
  const int64_t n = x.size(0), h = x.size(1), wd = x.size(2);
  Shape seq{n, h * wd, c_};
  Tensor normed = norm_.group_norm(b, x, groups_, kVaeNormEps, false).reshape(seq);
  Tensor q = to_q_(b, normed), k = to_k_(b, normed), v = to_v_(b, normed);
  normed = Tensor();
  Tensor attn = b.empty(seq);
  AttentionParams p;
  p.heads = 1;
  p.scale = 1.0f / std::sqrt((float)c_);
  b.attention(q, k, v, nullptr, nullptr, attn, p);
  q = k = v = Tensor();
  Tensor residual = x.reshape(seq);
  return to_out_(b, attn, &residual).reshape(x.shape());
}

VaeDownsample::VaeDownsample(WeightLoader& w, const std::string& prefix, int64_t channels)
    : conv_(ConvLayer::load(w, prefix + ".conv", channels, channels, 3, /*stride=*/2, /*pad=*/0, /*pad_end=*/1)) {}

Tensor VaeDownsample::forward(Backend& b, const Tensor& x) const { return conv_(b, x); }

VaeUpsample::VaeUpsample(WeightLoader& w, const std::string& prefix, int64_t channels)
    : conv_(ConvLayer::load(w, prefix + ".conv", channels, channels, 3)) {}

Tensor VaeUpsample::forward(Backend& b, const Tensor& x) const {
  Tensor up = b.empty({x.size(0), 2 * x.size(1), 2 * x.size(2), x.size(3)});
  b.upsample_nearest(x, up);
  return conv_(b, up);
}

VaeMidBlock::VaeMidBlock(WeightLoader& w, const std::string& prefix, int64_t channels, int groups)
    : res0_(w, prefix + ".resnets.0", channels, channels, groups),
      attn_(w, prefix + ".attentions.0", channels, groups),
      res1_(w, prefix + ".resnets.1", channels, channels, groups) {}

Tensor VaeMidBlock::forward(Backend& b, const Tensor& x) const {
  Tensor h = res0_.forward(b, x);
  h = attn_.forward(b, h);
  return res1_.forward(b, h);
}

}  // namespace indetail
