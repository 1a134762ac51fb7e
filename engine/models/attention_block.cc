#include "attention_block.h"

#include <cmath>

#include "../core/error.h"

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

namespace {

// Copies rows `rows` of t [N, L, C] into a new [rows.size(), L, C] tensor.
Tensor gather_rows(Backend& be, const Tensor& t, const std::vector<int32_t>& rows) {
  Tensor out = be.empty({(int64_t)rows.size(), t.size(1), t.size(2)});
  for (size_t j = 0; j < rows.size(); ++j) {
    Tensor dst = out.slice0((int64_t)j, 1);
    be.copy(t.slice0(rows[j], 1), dst);
  }
  return out;
}

}  // namespace

Tensor AttentionBlock::operator()(Backend& be, const Tensor& x, const Tensor* context, const Tensor* residual,
                                  const RefAttention* policy, const PreNorm& query_norm) const {
  check_arg(!query_norm.norm || context, "attention: a query norm needs cross-attention (x feeds q, k and v otherwise)");
  const Tensor& kv_in = context ? *context : x;
  Tensor q = to_q(be, query_norm, x);
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
  const AttnKV* cached = nullptr;
  if (policy && kv_slot >= 0) {
    if (policy->record) {
      for (int32_t r : policy->record_rows)
        check_arg(r >= 0 && r < k.size(0), "attention layer ", kv_slot, ": cannot record row ", r, " of a batch of ",
                  k.size(0));
      (*policy->record)[(size_t)kv_slot] = {gather_rows(be, k, policy->record_rows), gather_rows(be, v, policy->record_rows)};
    }
    if (policy->ref_kv && p.mode != RefMode::None) {
      cached = &(*policy->ref_kv)[(size_t)kv_slot];
      check_arg(cached->k.size(1) == k.size(1) && cached->k.size(2) == k.size(2), "attention layer ", kv_slot,
                ": the cached image-prompt keys ", shape_str(cached->k.shape()), " do not fit this forward's keys ",
                shape_str(k.shape()), " (recorded at another image size?)");
    }
  }
  Tensor o = be.empty(q.shape());
  be.attention(q, k, v, cached ? &cached->k : nullptr, cached ? &cached->v : nullptr, o, p);
  q = Tensor();
  k = Tensor();
  v = Tensor();
  return to_out(be, o, residual);
}

}  // namespace indetail
