#include "ops_table.h"

#include <cmath>
#include <map>

#include "convert.h"
#include "tensor_wrap.h"

namespace indetail {
namespace binding {

namespace {

// Reads tensors and parameters for one op call; the names match the op interface arguments.
struct Args {
  Napi::Object o;
  Tensor tensor(const char* key) const { return TensorWrap::FromJs(o.Get(key), key); }
  bool has(const char* key) const {
    Napi::Value v = o.Get(key);
    return !v.IsUndefined() && !v.IsNull();
  }
  // Optional tensors are copied into the closure; keep a flag for nullptr.
  std::pair<bool, Tensor> optional(const char* key) const {
    if (!has(key)) return {false, Tensor()};
    return {true, tensor(key)};
  }
};

const Tensor* ptr(const std::pair<bool, Tensor>& p) { return p.first ? &p.second : nullptr; }

Activation parse_activation(const Napi::Object& o, const char* key) {
  std::string s = opt_string(o, key, "none");
  if (s == "none") return Activation::None;
  if (s == "silu") return Activation::SiLU;
  if (s == "gelu") return Activation::GELU;
  if (s == "gelu_tanh") return Activation::GELUTanh;
  if (s == "quick_gelu") return Activation::QuickGELU;
  expected(o.Env(), "one of 'none', 'silu', 'gelu', 'gelu_tanh', 'quick_gelu'", key, o.Get(key));
}

RefMode parse_mode(const Napi::Object& o) {
  std::string s = opt_string(o, "mode", "none");
  if (s == "none") return RefMode::None;
  if (s == "concat") return RefMode::Concat;
  if (s == "stratified") return RefMode::Stratified;
  if (s == "replace") return RefMode::Replace;
  expected(o.Env(), "one of 'none', 'concat', 'stratified', 'replace'", "mode", o.Get("mode"));
}

Conv2dParams parse_conv(const Napi::Object& o) {
  Conv2dParams p;
  p.stride = (int)opt_int(o, "stride", 1);
  p.pad = (int)opt_int(o, "pad", 0);
  p.pad_end = (int)opt_int(o, "padEnd", -1);
  p.out_scale = (float)opt_number(o, "outScale", 1.0);
  return p;
}

GroupNormParams parse_group_norm(const Napi::Object& o) {
  GroupNormParams p;
  p.groups = (int)opt_int(o, "groups", 32);
  p.eps = (float)opt_number(o, "eps", 1e-5);
  p.silu = opt_bool(o, "silu", false);
  return p;
}

using Parser = PreparedOp (*)(const Args& a);

const std::map<std::string, Parser>& table() {
  static const std::map<std::string, Parser> t = {
      {"fill",
       [](const Args& a) -> PreparedOp {
         Tensor y = a.tensor("y");
         float v = (float)to_number(a.o.Get("value"), "value");
         return [y, v](Backend& b) mutable { b.fill(y, v); };
       }},
      {"axpy",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), y = a.tensor("y");
         float s = (float)to_number(a.o.Get("a"), "a");
         return [x, y, s](Backend& b) mutable { b.axpy(s, x, y); };
       }},
      {"gather_frames",
       // out[r] = src[index[r]] along dimension 0 (one call for a whole batch of frame copies)
       [](const Args& a) -> PreparedOp {
         Tensor src = a.tensor("src"), out = a.tensor("out");
         std::vector<int32_t> index = to_int_array(a.o.Get("index"), "index");
         check_arg(out.dim() >= 1 && (int64_t)index.size() == out.size(0), "gather_frames: index has ", index.size(),
                   " entries but out ", out.describe(), " has ", out.dim() >= 1 ? out.size(0) : 0, " frames");
         for (size_t r = 0; r < index.size(); ++r)
           check_arg(index[r] >= 0 && src.dim() >= 1 && index[r] < src.size(0), "gather_frames: index[", r, "] = ",
                     index[r], " is not a frame of src ", src.describe());
         return [=](Backend& b) mutable {
           for (size_t r = 0; r < index.size(); ++r) {
             Tensor dst = out.slice0((int64_t)r, 1);
             b.copy(src.slice0(index[r], 1), dst);
           }
         };
       }},
      {"copy",
       [](const Args& a) -> PreparedOp {
         Tensor src = a.tensor("src"), dst = a.tensor("dst");
         return [src, dst](Backend& b) mutable { b.copy(src, dst); };
       }},
      {"linear",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), w = a.tensor("w"), out = a.tensor("out");
         auto bias = a.optional("bias"), res = a.optional("residual");
         LinearParams p;
         p.act = parse_activation(a.o, "act");
         return [=](Backend& b) mutable { b.linear(x, w, ptr(bias), ptr(res), out, p); };
       }},
      {"linear_geglu",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), w = a.tensor("w"), out = a.tensor("out");
         auto bias = a.optional("bias");
         return [=](Backend& b) mutable { b.linear_geglu(x, w, ptr(bias), out); };
       }},
      {"geglu",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), out = a.tensor("out");
         return [=](Backend& b) mutable { b.geglu(x, out); };
       }},
      {"conv2d",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), w = a.tensor("w"), out = a.tensor("out");
         auto bias = a.optional("bias"), fb = a.optional("frameBias"), res = a.optional("residual");
         Conv2dParams p = parse_conv(a.o);
         return [=](Backend& b) mutable { b.conv2d(x, w, ptr(bias), ptr(fb), ptr(res), out, p); };
       }},
      {"group_norm_conv2d",
       // conv2d(group_norm(x)) with the GroupNorm's arguments prefixed: gamma, beta, groups, eps, silu
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), g = a.tensor("gamma"), be = a.tensor("beta"), w = a.tensor("w"), out = a.tensor("out");
         auto bias = a.optional("bias"), fb = a.optional("frameBias"), res = a.optional("residual");
         GroupNormParams gn = parse_group_norm(a.o);
         Conv2dParams p = parse_conv(a.o);
         return [=](Backend& b) mutable { b.group_norm_conv2d(x, g, be, gn, w, ptr(bias), ptr(fb), ptr(res), out, p); };
       }},
      {"group_norm",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), g = a.tensor("gamma"), be = a.tensor("beta"), out = a.tensor("out");
         GroupNormParams p = parse_group_norm(a.o);
         return [=](Backend& b) mutable { b.group_norm(x, g, be, out, p); };
       }},
      {"layer_norm",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), g = a.tensor("gamma"), be = a.tensor("beta"), out = a.tensor("out");
         float eps = (float)opt_number(a.o, "eps", 1e-5);
         return [=](Backend& b) mutable { b.layer_norm(x, g, be, out, eps); };
       }},
      {"attention",
       [](const Args& a) -> PreparedOp {
         Tensor q = a.tensor("q"), k = a.tensor("k"), v = a.tensor("v"), out = a.tensor("out");
         auto kr = a.optional("kRef"), vr = a.optional("vRef");
         AttentionParams p;
         p.heads = (int)to_int(a.o.Get("heads"), "heads");
         p.scale = (float)opt_number(a.o, "scale", 0.0);
         p.causal = opt_bool(a.o, "causal", false);
         p.mode = parse_mode(a.o);
         p.lambda_ref = (float)opt_number(a.o, "lambdaRef", 1.0);
         p.lambda_self = (float)opt_number(a.o, "lambdaSelf", 1.0);
         if (a.has("ref")) p.ref = to_int_array(a.o.Get("ref"), "ref");
         p.q_col = opt_int(a.o, "qCol", 0);
         p.k_col = opt_int(a.o, "kCol", 0);
         p.v_col = opt_int(a.o, "vCol", 0);
         if (p.scale == 0.0f) {
           check_arg(p.heads > 0 && out.dim() >= 1 && out.size(-1) % p.heads == 0, "attention: heads ", p.heads,
                     " must divide the output width of ", out.describe());
           p.scale = 1.0f / std::sqrt((float)(out.size(-1) / p.heads));
         }
         return [=](Backend& b) mutable { b.attention(q, k, v, ptr(kr), ptr(vr), out, p); };
       }},
      {"upsample_nearest",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), out = a.tensor("out");
         return [=](Backend& b) mutable { b.upsample_nearest(x, out); };
       }},
      {"timestep_embedding",
       [](const Args& a) -> PreparedOp {
         Tensor t = a.tensor("t"), out = a.tensor("out");
         TimestepEmbeddingParams p;
         p.flip_sin_to_cos = opt_bool(a.o, "flipSinToCos", true);
         p.freq_shift = (float)opt_number(a.o, "freqShift", 0.0);
         p.max_period = (float)opt_number(a.o, "maxPeriod", 10000.0);
         p.scale = (float)opt_number(a.o, "scale", 1.0);
         return [=](Backend& b) mutable { b.timestep_embedding(t, out, p); };
       }},
      {"activation",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), out = a.tensor("out");
         Activation act = parse_activation(a.o, "act");
         return [=](Backend& b) mutable { b.activation(x, out, act); };
       }},
      {"add",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("a"), y = a.tensor("b"), out = a.tensor("out");
         float alpha = (float)opt_number(a.o, "alpha", 1.0);
         return [=](Backend& b) mutable { b.add(x, y, out, alpha); };
       }},
      {"scale_frames",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("x"), out = a.tensor("out");
         std::vector<float> s = to_float_array(a.o.Get("scale"), "scale");
         return [=](Backend& b) mutable { b.scale_frames(x, s, out); };
       }},
      {"concat_channels",
       [](const Args& a) -> PreparedOp {
         Tensor x = a.tensor("a"), y = a.tensor("b"), out = a.tensor("out");
         return [=](Backend& b) mutable { b.concat_channels(x, y, out); };
       }},
      {"embedding",
       [](const Args& a) -> PreparedOp {
         Tensor ids = a.tensor("ids"), tab = a.tensor("table"), out = a.tensor("out");
         return [=](Backend& b) mutable { b.embedding(ids, tab, out); };
       }},
      {"guidance_step",
       [](const Args& a) -> PreparedOp {
         Tensor eps = a.tensor("eps"), x = a.tensor("x"), out = a.tensor("out");
         auto reset = a.optional("reset");
         GuidanceStepParams p;
         p.guidance_scale = (float)opt_number(a.o, "guidanceScale", 1.0);
         p.alpha_from = (float)to_number(a.o.Get("alphaFrom"), "alphaFrom");
         p.alpha_to = (float)to_number(a.o.Get("alphaTo"), "alphaTo");
         p.v_prediction = opt_bool(a.o, "vPrediction", false);
         p.uncond_row = to_int_array(a.o.Get("uncondRow"), "uncondRow");
         p.cond_row = to_int_array(a.o.Get("condRow"), "condRow");
         p.reset_frame = (int32_t)opt_int(a.o, "resetFrame", -1);
         return [=](Backend& b) mutable { b.guidance_step(eps, x, ptr(reset), out, p); };
       }},
  };
  return t;
}

}  // namespace

PreparedOp prepare_op(const std::string& name, const Napi::Object& args) {
  auto it = table().find(name);
  if (it == table().end()) {
    std::string list;
    for (const auto& kv : table()) list += (list.empty() ? "" : ", ") + kv.first;
    throw_type_error(args.Env(), "unknown op '" + name + "' (known: " + list + ")");
  }
  return it->second(Args{args});
}

std::vector<std::string> op_names() {
  std::vector<std::string> out;
  for (const auto& kv : table()) out.push_back(kv.first);
  return out;
}

}  // namespace binding
}  // namespace indetail
