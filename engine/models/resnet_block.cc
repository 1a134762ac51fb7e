#include "resnet_block.h"

namespace indetail {

ResnetBlock ResnetBlock::load(WeightLoader& L, const std::string& prefix, int64_t cin, int64_t cout, int64_t temb,
                              int groups, float eps, float output_scale_factor) {
  ResnetBlock r;
  r.cin = cin;
  r.cout = cout;
  r.groups = groups;
  r.eps = eps;
  r.output_scale_factor = output_scale_factor;
  r.norm1 = NormLayer::load(L, prefix + ".norm1", cin);
  r.conv1 = ConvLayer::load(L, prefix + ".conv1", cout, cin, 3);
  r.time_emb_proj = LinearLayer::load(L, prefix + ".time_emb_proj", cout, temb);
  r.norm2 = NormLayer::load(L, prefix + ".norm2", cout);
  r.conv2 = ConvLayer::load(L, prefix + ".conv2", cout, cout, 3);
  r.has_shortcut = cin != cout;
  if (r.has_shortcut) r.conv_shortcut = LinearLayer::load(L, prefix + ".conv_shortcut", cout, cin);
  return r;
}

Tensor ResnetBlock::operator()(Backend& be, const Tensor& x, const Tensor& temb_act) const {
  Tensor t = time_emb_proj(be, temb_act);  // [N, cout], added per frame by conv1
  const GroupNormParams gn = NormLayer::group_norm_params(groups, eps, true);
  Tensor h = conv1.after_norm(be, norm1, gn, x, &t);
  Tensor shortcut = has_shortcut ? conv_shortcut(be, x) : x;
  return conv2.after_norm(be, norm2, gn, h, nullptr, &shortcut, 1.0f / output_scale_factor);
}

}  // namespace indetail
