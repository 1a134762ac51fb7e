#include "transformer_2d.h"

#include "../core/error.h"

namespace indetail {

namespace {
constexpr float kLayerNormEps = 1e-5f;  // BasicTransformerBlock's default norm_eps
constexpr float kGroupNormEps = 1e-6f;  // Transformer2DModel's GroupNorm
constexpr int64_t kFeedForwardMult = 4;
}  // namespace

TransformerBlock TransformerBlock::load(WeightLoader& L, const std::string& prefix, int64_t dim, int64_t heads,
                                        int64_t context_dim) {
  TransformerBlock t;
  int64_t dim_head = dim / heads;
  int64_t ff_inner = dim * kFeedForwardMult;
  t.norm1 = NormLayer::load(L, prefix + ".norm1", dim);
  t.attn1 = AttentionBlock::load(L, prefix + ".attn1", dim, dim, heads, dim_head);
  t.norm2 = NormLayer::load(L, prefix + ".norm2", dim);
  t.attn2 = AttentionBlock::load(L, prefix + ".attn2", dim, context_dim, heads, dim_head);
  t.norm3 = NormLayer::load(L, prefix + ".norm3", dim);
  t.ff_proj = LinearLayer::load(L, prefix + ".ff.net.0.proj", 2 * ff_inner, dim);
  t.ff_out = LinearLayer::load(L, prefix + ".ff.net.2", dim, ff_inner);
  return t;
}

Tensor TransformerBlock::operator()(Backend& be, const Tensor& x, const Tensor& context,
                                    const RefAttention* self_policy) const {
  // norm1 feeds three projections: normalised once. norm2 and norm3 feed one GEMM each, which
  // normalises while it reads (layer_norm_linear, layer_norm_linear_geglu).
  Tensor h = attn1(be, norm1.layer_norm(be, x, kLayerNormEps), nullptr, &x, self_policy);
  h = attn2(be, h, &context, &h, nullptr, PreNorm{&norm2, kLayerNormEps});
  Tensor g = be.empty(with_channels(h.shape(), ff_out.k));
  be.layer_norm_linear_geglu(h, norm3.gamma, norm3.beta, kLayerNormEps, ff_proj.w, &ff_proj.b, g);
  return ff_out(be, g, &h);
}

Transformer2D Transformer2D::load(WeightLoader& L, const std::string& prefix, int64_t channels, int64_t heads,
                                  int64_t context_dim, int64_t depth, int groups) {
  check_arg(heads > 0 && channels % heads == 0, prefix, ": ", channels, " channels cannot be split into ", heads,
            " attention heads");
  Transformer2D t;
  t.groups = groups;
  t.channels = channels;
  t.norm = NormLayer::load(L, prefix + ".norm", channels);
  t.proj_in = LinearLayer::load(L, prefix + ".proj_in", channels, channels);
  for (int64_t i = 0; i < depth; ++i)
    t.blocks.push_back(
        TransformerBlock::load(L, prefix + ".transformer_blocks." + std::to_string(i), channels, heads, context_dim));
  t.proj_out = LinearLayer::load(L, prefix + ".proj_out", channels, channels);
  return t;
}

Tensor Transformer2D::operator()(Backend& be, const Tensor& x, const Tensor& context,
                                 const RefAttention* self_policy) const {
  const Shape& s = x.shape();  // [N, H, W, C]
  Shape seq = {s[0], s[1] * s[2], s[3]};
  Tensor h = proj_in(be, norm.group_norm(be, x, groups, kGroupNormEps, false).reshape(seq));
  for (const auto& b : blocks) h = b(be, h, context, self_policy);
  Tensor res = x.reshape(seq);
  return proj_out(be, h, &res).reshape(s);
}

}  // namespace indetail
