#include "attention_block.h"

#include <cmath>

namespace indetail {

AttentionBlock AttentionBlock::load(WeightLoader& L, const std::string& prefix, int64_t query_dim, int64_t context_dim,
                                    int64_t heads, int64_t dim_head, bool qkv_bias) {
  AttentionBlock a;
  a.heads = heads;
  a.dim_head = dim_head;
  int64_t inner = heads * dim_head;
  a.to_q = LinearLayer::load(L, prefix + ".to_q", inner, query_dim, qkv_bias);
  a.to_k = LinearLayer::load(L, prefix + ".to_k", inner, context_dim, qkv_bias);
  a.to_v = LinearLayer::load(L, prefix + ".to_v", inner, context_dim, qkv_bias);
  a.to_out = LinearLayer::load(L, prefix + ".to_out.0", query_dim, inner, true);
  return a;
}

Tensor AttentionBlock::operator()(Backend& be, const Tensor& x, const Tensor* context, const Tensor* residual,
                                  const RefAttention* policy) const {
  const Tensor& kv_in = context ? *context : x;
  Tensor q = to_q(be, x);
  Tensor k = to_k(be, kv_in);
  Tensor v = to_v(be, kv_in);
  AttentionParams p;
  p.heads = (int)heads;
  p.scale = 1.0f / std::sqrt((float)dim_head);
  if (policy && policy->mode != RefMode::None) {
    p.mode = policy->mode;
    p.ref = policy->ref;
    p.lambda_ref = policy->lambda_ref;
    p.lambda_self = policy->lambda_self;
  }
  Tensor o = be.empty(q.shape());
  be.attention(q, k, v, nullptr, nullptr, o, p);
  q = Tensor();
  k = Tensor();
  v = Tensor();
  return to_out(be, o, residual);
}

}  // namespace indetail
