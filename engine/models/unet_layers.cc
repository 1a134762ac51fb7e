#include "unet_layers.h"

#include "../core/error.h"

namespace indetail {

Shape with_channels(const Shape& x, int64_t c) {
  Shape s = x;
  s.back() = c;
  return s;
}

LinearLayer LinearLayer::load(WeightLoader& L, const std::string& name, int64_t n, int64_t k, bool bias) {
  LinearLayer l;
  l.n = n;
  l.k = k;
  l.w = L.linear(name + ".weight", n, k);
  if (bias) l.b = L.vector(name + ".bias", n);
  return l;
}

Tensor LinearLayer::operator()(Backend& be, const Tensor& x, const Tensor* residual, Activation act) const {
  Tensor out = be.empty(with_channels(x.shape(), n));
  LinearParams p;
  p.act = act;
  be.linear(x, w, b.defined() ? &b : nullptr, residual, out, p);
  return out;
}

Tensor LinearLayer::operator()(Backend& be, const PreNorm& pre, const Tensor& x, const Tensor* residual) const {
  if (!pre.norm) return (*this)(be, x, residual);
  Tensor out = be.empty(with_channels(x.shape(), n));
  be.layer_norm_linear(x, pre.norm->gamma, pre.norm->beta, pre.eps, w, b.defined() ? &b : nullptr, residual, out,
                       LinearParams{});
  return out;
}

ConvLayer ConvLayer::load(WeightLoader& L, const std::string& name, int64_t cout, int64_t cin, int64_t k, int stride,
                          int pad, int pad_end, bool bias) {
  ConvLayer c;
  c.cout = cout;
  c.cin = cin;
  c.kh = c.kw = k;
  c.p.stride = stride;
  c.p.pad = pad < 0 ? (int)(k - 1) / 2 : pad;
  c.p.pad_end = pad_end;
  c.w = L.conv(name + ".weight", cout, cin, k, k);
  if (bias) c.b = L.vector(name + ".bias", cout);
  return c;
}

Shape ConvLayer::out_shape(const Shape& x) const {
  int64_t pe = p.pad_end < 0 ? p.pad : p.pad_end;
  int64_t ho = (x[1] + p.pad + pe - kh) / p.stride + 1;
  int64_t wo = (x[2] + p.pad + pe - kw) / p.stride + 1;
  return {x[0], ho, wo, cout};
}

Tensor ConvLayer::operator()(Backend& be, const Tensor& x, const Tensor* frame_bias, const Tensor* residual,
                             float out_scale) const {
  check_arg(x.dim() == 4, "conv2d: input must be NHWC, got ", x.describe());
  Tensor out = be.empty(out_shape(x.shape()));
  Conv2dParams q = p;
  q.out_scale = out_scale;
  be.conv2d(x, w, b.defined() ? &b : nullptr, frame_bias, residual, out, q);
  return out;
}

Tensor ConvLayer::after_group_norm(Backend& be, const NormLayer& norm, const Tensor& x, const GroupNormParams& gn,
                                  const Tensor* frame_bias, const Tensor* residual, float out_scale) const {
  check_arg(x.dim() == 4, "conv2d: input must be NHWC, got ", x.describe());
  Tensor out = be.empty(out_shape(x.shape()));
  Conv2dParams q = p;
  q.out_scale = out_scale;
  be.group_norm_conv2d(x, norm.gamma, norm.beta, gn, w, b.defined() ? &b : nullptr, frame_bias, residual, out, q);
  return out;
}

NormLayer NormLayer::load(WeightLoader& L, const std::string& name, int64_t c) {
  NormLayer n;
  n.c = c;
  n.gamma = L.vector(name + ".weight", c);
  n.beta = L.vector(name + ".bias", c);
  return n;
}

GroupNormParams NormLayer::params(int groups, float eps, bool silu) {
  GroupNormParams p;
  p.groups = groups;
  p.eps = eps;
  p.silu = silu;
  return p;
}

Tensor NormLayer::group_norm(Backend& be, const Tensor& x, int groups, float eps, bool silu) const {
  Tensor out = be.empty(x.shape());
  be.group_norm(x, gamma, beta, out, params(groups, eps, silu));
  return out;
}

Tensor NormLayer::layer_norm(Backend& be, const Tensor& x, float eps) const {
  Tensor out = be.empty(x.shape());
  be.layer_norm(x, gamma, beta, out, eps);
  return out;
}

}  // namespace indetail
