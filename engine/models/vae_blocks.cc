#include "vae_blocks.h"

#include <cmath>

#include "../core/error.h"

namespace indetail {

VaeConv::VaeConv(WeightLoader& ld, const std::string& prefix, int64_t cin, int64_t cout_, int64_t k_)
    : cout(cout_), k(k_) {
  w = ld.conv(prefix + ".weight", cout, cin, k, k);
  b = ld.vector(prefix + ".bias", cout);
}

Tensor VaeConv::forward(Backend& be, const Tensor& x, const Conv2dParams& p, const Tensor* residual) const {
  int64_t pad_end = p.pad_end < 0 ? p.pad : p.pad_end;
  int64_t ho = (x.size(1) + p.pad + pad_end - k) / p.stride + 1;
  int64_t wo = (x.size(2) + p.pad + pad_end - k) / p.stride + 1;
  Tensor out = be.empty({x.size(0), ho, wo, cout});
  be.conv2d(x, w, &b, nullptr, residual, out, p);
  return out;
}

VaeGroupNorm::VaeGroupNorm(WeightLoader& ld, const std::string& prefix, int64_t channels, int groups_) : groups(groups_) {
  gamma = ld.vector(prefix + ".weight", channels);
  beta = ld.vector(prefix + ".bias", channels);
}

Tensor VaeGroupNorm::forward(Backend& b, const Tensor& x, bool silu) const {
  Tensor out = b.empty(x.shape());
  GroupNormParams p;
  p.groups = groups;
  p.eps = kVaeNormEps;
  p.silu = silu;
  b.group_norm(x, gamma, beta, out, p);
  return out;
}

namespace {
Conv2dParams same3x3() {
  Conv2dParams p;
  p.pad = 1;
  return p;
}
}  // namespace

VaeResnet::VaeResnet(WeightLoader& w, const std::string& prefix, int64_t cin, int64_t cout, int groups)
    : norm1_(w, prefix + ".norm1", cin, groups),
      norm2_(w, prefix + ".norm2", cout, groups),
      conv1_(w, prefix + ".conv1", cin, cout, 3),
      conv2_(w, prefix + ".conv2", cout, cout, 3),
      has_shortcut_(cin != cout) {
  if (has_shortcut_) shortcut_ = VaeConv(w, prefix + ".conv_shortcut", cin, cout, 1);
}

Tensor VaeResnet::forward(Backend& b, const Tensor& x) const {
  Tensor h = conv1_.forward(b, norm1_.forward(b, x, true), same3x3());
  h = norm2_.forward(b, h, true);
  if (!has_shortcut_) return conv2_.forward(b, h, same3x3(), &x);
  Tensor sc = shortcut_.forward(b, x, Conv2dParams());
  return conv2_.forward(b, h, same3x3(), &sc);
}

VaeAttention::VaeAttention(WeightLoader& w, const std::string& prefix, int64_t channels, int groups)
    : c_(channels), norm_(w, prefix + ".group_norm", channels, groups) {
  wq_ = w.linear(prefix + ".to_q.weight", c_, c_);
  bq_ = w.vector(prefix + ".to_q.bias", c_);
  wk_ = w.linear(prefix + ".to_k.weight", c_, c_);
  bk_ = w.vector(prefix + ".to_k.bias", c_);
  wv_ = w.linear(prefix + ".to_v.weight", c_, c_);
  bv_ = w.vector(prefix + ".to_v.bias", c_);
  wo_ = w.linear(prefix + ".to_out.0.weight", c_, c_);
  bo_ = w.vector(prefix + ".to_out.0.bias", c_);
}

Tensor VaeAttention::forward(Backend& b, const Tensor& x) const {
  const int64_t n = x.size(0), h = x.size(1), wd = x.size(2);
  Shape seq{n, h * wd, c_};
  Tensor normed = norm_.forward(b, x, false).reshape(seq);
  Tensor q = b.empty(seq), k = b.empty(seq), v = b.empty(seq);
  b.linear(normed, wq_, &bq_, nullptr, q, LinearParams());
  b.linear(normed, wk_, &bk_, nullptr, k, LinearParams());
  b.linear(normed, wv_, &bv_, nullptr, v, LinearParams());
  normed = Tensor();
  Tensor attn = b.empty(seq);
  AttentionParams p;
  p.heads = 1;
  p.scale = 1.0f / std::sqrt((float)c_);
  b.attention(q, k, v, nullptr, nullptr, attn, p);
  q = k = v = Tensor();
  Tensor out = b.empty(seq);
  Tensor residual = x.reshape(seq);
  b.linear(attn, wo_, &bo_, &residual, out, LinearParams());
  return out.reshape(x.shape());
}

VaeDownsample::VaeDownsample(WeightLoader& w, const std::string& prefix, int64_t channels)
    : w_(w.conv(prefix + ".conv.weight", channels, channels, 3, 3)), b_(w.vector(prefix + ".conv.bias", channels)) {}

Tensor VaeDownsample::forward(Backend& b, const Tensor& x) const {
  Conv2dParams p;
  p.stride = 2;
  p.pad = 0;
  p.pad_end = 1;
  Tensor out = b.empty({x.size(0), (x.size(1) - 2) / 2 + 1, (x.size(2) - 2) / 2 + 1, x.size(3)});
  b.conv2d(x, w_, &b_, nullptr, nullptr, out, p);
  return out;
}

VaeUpsample::VaeUpsample(WeightLoader& w, const std::string& prefix, int64_t channels)
    : conv_(w, prefix + ".conv", channels, channels, 3) {}

Tensor VaeUpsample::forward(Backend& b, const Tensor& x) const {
  Tensor up = b.empty({x.size(0), 2 * x.size(1), 2 * x.size(2), x.size(3)});
  b.upsample_nearest(x, up);
  return conv_.forward(b, up, same3x3());
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
