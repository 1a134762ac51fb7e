#include "clip_text.h"

#include <cmath>
#include <cstring>
#include <set>

#include "../core/error.h"
#include "config_reader.h"
#include "transformer_config.h"

namespace indetail {

ClipTextConfig ClipTextConfig::from_json(const std::string& json_text) {
  ConfigReader r(json_text, "CLIP text encoder config");
  ClipTextConfig c;
  c.hidden_size = r.positive_integer("hidden_size");
  c.intermediate_size = r.positive_integer("intermediate_size");
  c.num_attention_heads = r.positive_integer("num_attention_heads");
  c.num_hidden_layers = r.positive_integer("num_hidden_layers");
  c.max_position_embeddings = r.positive_integer("max_position_embeddings");
  c.vocab_size = r.positive_integer("vocab_size");
  c.eos_token_id = r.integer("eos_token_id", 2);
  c.projection_dim = r.integer("projection_dim", 0);
  if (c.projection_dim < 0)
    fail(ErrorKind::InvalidArgument, "CLIP text encoder config: 'projection_dim' must not be negative, found ", c.projection_dim);
  c.layer_norm_eps = (float)r.positive_number("layer_norm_eps");
  c.hidden_act = read_hidden_act(r);
  check_heads_divide(r, c.hidden_size, c.num_attention_heads);
  return c;
}

namespace {

// Host F32 tensors of equal trailing shape stacked along dimension 0.
Tensor stack_rows(const std::vector<Tensor>& parts) {
  Shape shape = parts[0].shape();
  int64_t rows = 0;
  for (const Tensor& p : parts) rows += p.size(0);
  shape[0] = rows;
  Tensor out = Tensor::host_uninitialized(DType::F32, shape);
  char* dst = static_cast<char*>(out.raw());
  for (const Tensor& p : parts) {
    std::memcpy(dst, p.raw(), p.nbytes());
    dst += p.nbytes();
  }
  return out;
}

}  // namespace

ClipTextModel::ClipTextModel(const ClipTextConfig& config, const WeightSource& weights, std::shared_ptr<Backend> backend)
    : config_(config), backend_(std::move(backend)) {
  Backend& b = *backend_;
  WeightLoader w(weights, b, "CLIP text encoder");
  const int64_t C = config_.hidden_size, I = config_.intermediate_size;
  const std::string emb = "text_model.embeddings.";
  token_embedding_ = w.table(emb + "token_embedding.weight", config_.vocab_size, C);
  position_embedding_ = w.table(emb + "position_embedding.weight", config_.max_position_embeddings, C);

  std::set<std::string> fused;  // names read directly from the source (the fused q/k/v projection)
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    const std::string p = "text_model.encoder.layers." + std::to_string(i) + ".";
    Layer l;
    l.ln1_w = w.vector(p + "layer_norm1.weight", C);
    l.ln1_b = w.vector(p + "layer_norm1.bias", C);
    std::vector<Tensor> ws, bs;
    for (const char* proj : {"q_proj", "k_proj", "v_proj"}) {
      std::string n = p + "self_attn." + proj;
      ws.push_back(weights.host_f32(n + ".weight", {C, C}));
      bs.push_back(weights.host_f32(n + ".bias", {C}));
      fused.insert(n + ".weight");
      fused.insert(n + ".bias");
    }
    l.qkv_w = b.prepare_weight(stack_rows(ws), WeightUse::Linear);
    l.qkv_b = b.prepare_weight(stack_rows(bs), WeightUse::Vector);
    l.out_w = w.linear(p + "self_attn.out_proj.weight", C, C);
    l.out_b = w.vector(p + "self_attn.out_proj.bias", C);
    l.ln2_w = w.vector(p + "layer_norm2.weight", C);
    l.ln2_b = w.vector(p + "layer_norm2.bias", C);
    l.fc1_w = w.linear(p + "mlp.fc1.weight", I, C);
    l.fc1_b = w.vector(p + "mlp.fc1.bias", I);
    l.fc2_w = w.linear(p + "mlp.fc2.weight", C, I);
    l.fc2_b = w.vector(p + "mlp.fc2.bias", C);
    layers_.push_back(std::move(l));
  }
  final_ln_w_ = w.vector("text_model.final_layer_norm.weight", C);
  final_ln_b_ = w.vector("text_model.final_layer_norm.bias", C);
  if (config_.projection_dim > 0) text_projection_ = LinearLayer::load(w, "text_projection", config_.projection_dim, C, false);

  // A text-model tensor nobody asked for means the config does not describe this checkpoint
  // (e.g. more layers than num_hidden_layers). Other top-level tensors (text_projection of
  // CLIPTextModelWithProjection) are not part of this model.
  for (const std::string& n : w.unused()) {
    if (n.rfind("text_model.", 0) != 0 || fused.count(n) || n == "text_model.embeddings.position_ids") continue;
    fail(ErrorKind::BadFile, "CLIP text encoder: ", weights.describe_files(), " holds weight '", n,
         "' that the config does not use (num_hidden_layers = ", config_.num_hidden_layers, "); is the config for this checkpoint?");
  }
}

int64_t ClipTextModel::pooled_position(const int32_t* row, int64_t length) const {
  if (config_.eos_token_id == 2) {  // transformers' legacy rule: argmax of the ids (first maximum)
    int64_t best = 0;
    for (int64_t i = 1; i < length; ++i)
      if (row[i] > row[best]) best = i;
    return best;
  }
  for (int64_t i = 0; i < length; ++i)
    if (row[i] == config_.eos_token_id) return i;
  return 0;  // no eos: transformers' argmax over an all-false mask gives position 0
}

void ClipTextModel::check_ids(const Tensor& ids) const {
  check_arg(ids.defined() && ids.device() == Device::CPU && ids.dtype() == DType::I32 && ids.dim() == 2,
            "CLIP text encoder: token ids must be a host I32 tensor [batch, length], got ",
            ids.defined() ? ids.describe() : std::string("nothing"));
  const int64_t n = ids.size(0), len = ids.size(1);
  check_arg(n >= 1, "CLIP text encoder: the batch is empty");
  check_arg(len >= 1 && len <= config_.max_position_embeddings, "CLIP text encoder: sequences of ", len,
            " tokens are not supported (1 to max_position_embeddings = ", config_.max_position_embeddings, ")");
  const int32_t* d = ids.data<int32_t>();
  for (int64_t i = 0; i < n * len; ++i) {
    if (d[i] < 0 || d[i] >= config_.vocab_size)
      fail(ErrorKind::InvalidArgument, "CLIP text encoder: token id ", d[i], " at [", i / len, ", ", i % len,
           "] is outside the vocabulary (0 to ", config_.vocab_size - 1, ")");
  }
}

ClipTextModel::Output ClipTextModel::encode(const Tensor& ids, Want want) const {
  check_ids(ids);
  Backend& b = *backend_;
  const int64_t N = ids.size(0), L = ids.size(1), C = config_.hidden_size, I = config_.intermediate_size;

  Tensor positions = Tensor::host_uninitialized(DType::I32, {N, L});
  int32_t* pos = positions.data<int32_t>();
  for (int64_t i = 0; i < N * L; ++i) pos[i] = (int32_t)(i % L);
  Tensor tok = b.empty({N, L, C}), pe = b.empty({N, L, C}), x = b.empty({N, L, C});
  b.embedding(ids, token_embedding_, tok);
  b.embedding(positions, position_embedding_, pe);
  b.add(tok, pe, x);
  tok = Tensor();
  pe = Tensor();

  AttentionParams ap;
  ap.heads = (int)config_.num_attention_heads;
  ap.scale = 1.0f / std::sqrt((float)config_.head_dim());
  ap.causal = true;
  ap.q_col = 0;
  ap.k_col = C;
  ap.v_col = 2 * C;
  LinearParams plain, mlp;
  mlp.act = config_.hidden_act;

  Output out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    if (want.penultimate && i + 1 == layers_.size()) {  // the last layer writes x in place: keep its input
      out.penultimate_hidden_state = b.empty({N, L, C});
      b.copy(x, out.penultimate_hidden_state);
    }
    Tensor h = b.empty({N, L, C});
    b.layer_norm(x, l.ln1_w, l.ln1_b, h, config_.layer_norm_eps);
    Tensor qkv = b.empty({N, L, 3 * C});
    b.linear(h, l.qkv_w, &l.qkv_b, nullptr, qkv, plain);
    b.attention(qkv, qkv, qkv, nullptr, nullptr, h, ap);
    qkv = Tensor();
    Tensor x1 = b.empty({N, L, C});
    b.linear(h, l.out_w, &l.out_b, &x, x1, plain);  // x1 = x + out_proj(attention)

    b.layer_norm(x1, l.ln2_w, l.ln2_b, h, config_.layer_norm_eps);
    Tensor f = b.empty({N, L, I});
    b.linear(h, l.fc1_w, &l.fc1_b, nullptr, f, mlp);
    b.linear(f, l.fc2_w, &l.fc2_b, &x1, x, plain);  // x = x1 + fc2(act(fc1(h)))
  }

  out.last_hidden_state = b.empty({N, L, C});
  b.layer_norm(x, final_ln_w_, final_ln_b_, out.last_hidden_state, config_.layer_norm_eps);
  if (want.pooled) {
    out.pooled = b.empty({N, C});
    Tensor rows = out.last_hidden_state.reshape({N * L, C});
    const int32_t* d = ids.data<int32_t>();
    for (int64_t n = 0; n < N; ++n) {
      Tensor dst = out.pooled.slice0(n, 1);
      b.copy(rows.slice0(n * L + pooled_position(d + n * L, L), 1), dst);
    }
    if (config_.projection_dim > 0) out.text_embeds = text_projection_(b, out.pooled);
  }
  return out;
}

}  // namespace indetail
