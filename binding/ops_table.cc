#include "ops_table.h"

#include <cmath>
#include <map>

#include "arg_object.h"
#include "tensor_wrap.h"

namespace indetail {
namespace binding {

namespace {

Tensor tensor(const ArgObject& a, const char* key) { return TensorWrap::FromJs(a.get(key), a.name(key)); }

// Optional tensors are copied into the closure; keep a flag for nullptr.
std::pair<bool, Tensor> optional(const ArgObject& a, const char* key) {
  if (!a.has(key)) return {false, Tensor()};
  return {true, tensor(a, key)};
}

const Tensor* ptr(const std::pair<bool, Tensor>& p) { return p.first ? &p.second : nullptr; }

Activation parse_activation(const ArgObject& a, const char* key) {
  std::string s = a.string(key, "none");
  if (s == "none") return Activation::None;
  if (s == "silu") return Activation::SiLU;
  if (s == "gelu") return Activation::GELU;
  if (s == "gelu_tanh") return Activation::GELUTanh;
  if (s == "quick_gelu") return Activation::QuickGELU;
  expected(a.env(), "one of 'none', 'silu', 'gelu', 'gelu_tanh', 'quick_gelu'", a.name(key), a.get(key));
}

RefMode parse_mode(const ArgObject& a) {
  std::string s = a.string("mode", "none");
  if (s == "none") return RefMode::None;
  if (s == "concat") return RefMode::Concat;
  if (s == "stratified") return RefMode::Stratified;
  if (s == "replace") return RefMode::Replace;
  expected(a.env(), "one of 'none', 'concat', 'stratified', 'replace'", "mode", a.get("mode"));
}

Conv2dParams parse_conv(const ArgObject& a) {
  Conv2dParams p;
  p.stride = (int)a.integer("stride", 1);
  p.pad = (int)a.integer("pad", 0);
  p.pad_end = (int)a.integer("padEnd", -1);
  p.out_scale = (float)a.number("outScale", 1.0);
  return p;
}

GroupNormParams parse_group_norm(const ArgObject& a) {
  GroupNormParams p;
  p.groups = (int)a.integer("groups", 32);
  p.eps = (float)a.number("eps", 1e-5);
  p.silu = a.boolean("silu", false);
  return p;
}

using Parser = PreparedOp (*)(const ArgObject& a);

// An op's arguments (its type: every key it accepts, space-separated) and how they are read.
struct OpSpec {
  const char* keys;
  Parser parse;
};

const std::map<std::string, OpSpec>& table() {
  static const std::map<std::string, OpSpec> t = {
      {"fill",
       {"y value",
       [](const ArgObject& a) -> PreparedOp {
         Tensor y = tensor(a, "y");
         float v = (float)a.number("value");
         return [y, v](Backend& b) mutable { b.fill(y, v); };
       }}},
      {"axpy",
       {"x y a",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), y = tensor(a, "y");
         float s = (float)a.number("a");
         return [x, y, s](Backend& b) mutable { b.axpy(s, x, y); };
       }}},
      {"gather_frames",
       {"src out index",
       // out[r] = src[index[r]] along dimension 0 (one call for a whole batch of frame copies)
       [](const ArgObject& a) -> PreparedOp {
         Tensor src = tensor(a, "src"), out = tensor(a, "out");
         std::vector<int32_t> index = a.ints("index");
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
       }}},
      {"copy",
       {"src dst",
       [](const ArgObject& a) -> PreparedOp {
         Tensor src = tensor(a, "src"), dst = tensor(a, "dst");
         return [src, dst](Backend& b) mutable { b.copy(src, dst); };
       }}},
      {"linear",
       {"x w out bias residual act",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), w = tensor(a, "w"), out = tensor(a, "out");
         auto bias = optional(a, "bias"), res = optional(a, "residual");
         LinearParams p;
         p.act = parse_activation(a, "act");
         return [=](Backend& b) mutable { b.linear(x, w, ptr(bias), ptr(res), out, p); };
       }}},
      {"linear_geglu",
       {"x w out bias",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), w = tensor(a, "w"), out = tensor(a, "out");
         auto bias = optional(a, "bias");
         return [=](Backend& b) mutable { b.linear_geglu(x, w, ptr(bias), out); };
       }}},
      {"geglu",
       {"x out",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), out = tensor(a, "out");
         return [=](Backend& b) mutable { b.geglu(x, out); };
       }}},
      {"conv2d",
       {"x w out bias frameBias residual stride pad padEnd outScale",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), w = tensor(a, "w"), out = tensor(a, "out");
         auto bias = optional(a, "bias"), fb = optional(a, "frameBias"), res = optional(a, "residual");
         Conv2dParams p = parse_conv(a);
         return [=](Backend& b) mutable { b.conv2d(x, w, ptr(bias), ptr(fb), ptr(res), out, p); };
       }}},
      {"group_norm_conv2d",
       // conv2d(group_norm(x)): conv2d's arguments plus the GroupNorm's gamma, beta, groups, eps, silu
       {"x gamma beta w out bias frameBias residual groups eps silu stride pad padEnd outScale",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), g = tensor(a, "gamma"), be = tensor(a, "beta"), w = tensor(a, "w"),
                out = tensor(a, "out");
         auto bias = optional(a, "bias"), fb = optional(a, "frameBias"), res = optional(a, "residual");
         GroupNormParams gn = parse_group_norm(a);
         Conv2dParams p = parse_conv(a);
         return [=](Backend& b) mutable { b.group_norm_conv2d(x, g, be, gn, w, ptr(bias), ptr(fb), ptr(res), out, p); };
       }}},
      {"group_norm",
       {"x gamma beta out groups eps silu",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), g = tensor(a, "gamma"), be = tensor(a, "beta"), out = tensor(a, "out");
         GroupNormParams p = parse_group_norm(a);
         return [=](Backend& b) mutable { b.group_norm(x, g, be, out, p); };
       }}},
      {"layer_norm",
       {"x gamma beta out eps",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), g = tensor(a, "gamma"), be = tensor(a, "beta"), out = tensor(a, "out");
         float eps = (float)a.number("eps", 1e-5);
         return [=](Backend& b) mutable { b.layer_norm(x, g, be, out, eps); };
       }}},
      {"attention",
       {"q k v out kRef vRef heads scale causal mode lambdaRef lambdaSelf ref qCol kCol vCol",
       [](const ArgObject& a) -> PreparedOp {
         Tensor q = tensor(a, "q"), k = tensor(a, "k"), v = tensor(a, "v"), out = tensor(a, "out");
         auto kr = optional(a, "kRef"), vr = optional(a, "vRef");
         AttentionParams p;
         p.heads = (int)a.integer("heads");
         p.scale = (float)a.number("scale", 0.0);
         p.causal = a.boolean("causal", false);
         p.mode = parse_mode(a);
         p.lambda_ref = (float)a.number("lambdaRef", 1.0);
         p.lambda_self = (float)a.number("lambdaSelf", 1.0);
         if (a.has("ref")) p.ref = a.ints("ref");
         p.q_col = a.integer("qCol", 0);
         p.k_col = a.integer("kCol", 0);
         p.v_col = a.integer("vCol", 0);
         if (p.scale == 0.0f) {
           check_arg(p.heads > 0 && out.dim() >= 1 && out.size(-1) % p.heads == 0, "attention: heads ", p.heads,
                     " must divide the output width of ", out.describe());
           p.scale = 1.0f / std::sqrt((float)(out.size(-1) / p.heads));
         }
         return [=](Backend& b) mutable { b.attention(q, k, v, ptr(kr), ptr(vr), out, p); };
       }}},
      {"upsample_nearest",
       {"x out",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), out = tensor(a, "out");
         return [=](Backend& b) mutable { b.upsample_nearest(x, out); };
       }}},
      {"timestep_embedding",
       {"t out flipSinToCos freqShift maxPeriod scale",
       [](const ArgObject& a) -> PreparedOp {
         Tensor t = tensor(a, "t"), out = tensor(a, "out");
         TimestepEmbeddingParams p;
         p.flip_sin_to_cos = a.boolean("flipSinToCos", true);
         p.freq_shift = (float)a.number("freqShift", 0.0);
         p.max_period = (float)a.number("maxPeriod", 10000.0);
         p.scale = (float)a.number("scale", 1.0);
         return [=](Backend& b) mutable { b.timestep_embedding(t, out, p); };
       }}},
      {"activation",
       {"x out act",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), out = tensor(a, "out");
         Activation act = parse_activation(a, "act");
         return [=](Backend& b) mutable { b.activation(x, out, act); };
       }}},
      {"add",
       {"a b out alpha",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "a"), y = tensor(a, "b"), out = tensor(a, "out");
         float alpha = (float)a.number("alpha", 1.0);
         return [=](Backend& b) mutable { b.add(x, y, out, alpha); };
       }}},
      {"scale_frames",
       {"x out scale",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "x"), out = tensor(a, "out");
         std::vector<float> s = a.floats("scale");
         return [=](Backend& b) mutable { b.scale_frames(x, s, out); };
       }}},
      {"concat_channels",
       {"a b out",
       [](const ArgObject& a) -> PreparedOp {
         Tensor x = tensor(a, "a"), y = tensor(a, "b"), out = tensor(a, "out");
         return [=](Backend& b) mutable { b.concat_channels(x, y, out); };
       }}},
      {"embedding",
       {"ids table out",
       [](const ArgObject& a) -> PreparedOp {
         Tensor ids = tensor(a, "ids"), tab = tensor(a, "table"), out = tensor(a, "out");
         return [=](Backend& b) mutable { b.embedding(ids, tab, out); };
       }}},
      {"guidance_step",
       {"eps x out reset guidanceScale alphaFrom alphaTo vPrediction uncondRow condRow resetFrame",
       [](const ArgObject& a) -> PreparedOp {
         Tensor eps = tensor(a, "eps"), x = tensor(a, "x"), out = tensor(a, "out");
         auto reset = optional(a, "reset");
         GuidanceStepParams p;
         p.guidance_scale = (float)a.number("guidanceScale", 1.0);
         p.alpha_from = (float)a.number("alphaFrom");
         p.alpha_to = (float)a.number("alphaTo");
         p.v_prediction = a.boolean("vPrediction", false);
         p.uncond_row = a.ints("uncondRow");
         p.cond_row = a.ints("condRow");
         p.reset_frame = (int32_t)a.integer("resetFrame", -1);
         return [=](Backend& b) mutable { b.guidance_step(eps, x, ptr(reset), out, p); };
       }}},
  };
  return t;
}

}  // namespace

PreparedOp prepare_op(const std::string& name, const Napi::Value& args) {
  auto it = table().find(name);
  if (it == table().end()) {
    std::string list;
    for (const auto& kv : table()) list += (list.empty() ? "" : ", ") + kv.first;
    throw_type_error(args.Env(), "unknown op '" + name + "' (known: " + list + ")");
  }
  return it->second.parse(ArgObject(args, "op '" + name + "'", it->second.keys));
}

std::vector<std::string> op_names() {
  std::vector<std::string> out;
  for (const auto& kv : table()) out.push_back(kv.first);
  return out;
}

}  // namespace binding
}  // namespace indetail
