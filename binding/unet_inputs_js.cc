#include "unet_inputs_js.h"

#include "arg_object.h"
#include "cancel_wrap.h"
#include "kv_cache_wrap.h"
#include "model_common.h"

namespace indetail {
namespace binding {

namespace {

RefAttention attention_from_js(const ArgObject& a) {
  RefAttention r;
  std::string mode = a.string("mode", "none");
  if (mode == "none") r.mode = RefMode::None;
  else if (mode == "concat") r.mode = RefMode::Concat;
  else if (mode == "stratified") r.mode = RefMode::Stratified;
  else if (mode == "replace") r.mode = RefMode::Replace;
  else expected(a.env(), "one of 'none', 'concat', 'stratified', 'replace'", a.name("mode"), a.get("mode"));
  if (a.has("ref")) r.ref = a.ints("ref");
  r.lambda_ref = (float)a.number("lambdaRef", 1.0);
  r.lambda_self = (float)a.number("lambdaSelf", 1.0);
  return r;
}

// {cache, step} of recordKV / refKV, checked against the model.
KVTarget kv_target_from_js(const ArgObject& a, const UNetModel& model) {
  KVTarget t;
  t.cache = KVCacheWrap::FromJs(a.get("cache"), a.name("cache"));
  if (t.cache->model_id() != model.id()) throw_type_error(a.env(), a.name("cache") + " was created by another UNet");
  t.step = a.integer("step");
  if (t.step < 0 || t.step >= t.cache->steps())
    throw_type_error(a.env(), a.name("step") + " must be in [0, " + std::to_string(t.cache->steps()) + "), got " +
                                  std::to_string(t.step));
  return t;
}

UNetControl control_from_js(const ArgObject& a, const EngineState& st) {
  UNetControl c;
  Napi::Value down = a.get("down");
  if (!down.IsArray()) expected(a.env(), "an array of Tensors", a.name("down"), down);
  Napi::Array d = down.As<Napi::Array>();
  for (uint32_t i = 0; i < d.Length(); ++i) c.down.push_back(engine_tensor(d.Get(i), a.name("down") + "[" + std::to_string(i) + "]", st));
  c.mid = engine_tensor(a.get("mid"), a.name("mid"), st);
  if (a.has("frameScale")) c.frame_scale = a.floats("frameScale");
  return c;
}

}  // namespace

UNetForwardCall unet_forward_from_js(const Napi::Value& args, const EngineState& st, const UNetModel& model) {
  const ArgObject a(args, "unet.forward", "sample timesteps context added control attention recordKV refKV cancel sync");
  UNetForwardCall call;
  UNetInputs& in = call.inputs;
  in.sample = engine_tensor(a.get("sample"), "sample", st);
  in.context = engine_tensor(a.get("context"), "context", st);
  in.timesteps = a.floats("timesteps");
  if (a.has("added")) {
    const ArgObject added = a.object("added", "textEmbeds timeIds");
    in.added.text_embeds = engine_tensor(added.get("textEmbeds"), added.name("textEmbeds"), st);
    in.added.time_ids = added.floats("timeIds");
  }
  if (a.has("control")) in.control = control_from_js(a.object("control", "down mid frameScale"), st);
  if (a.has("attention")) in.attention = attention_from_js(a.object("attention", "mode ref lambdaRef lambdaSelf"));
  if (a.has("recordKV")) {
    const ArgObject r = a.object("recordKV", "cache step rows");
    call.record = kv_target_from_js(r, model);
    in.attention.record_rows = r.ints("rows");
    if ((int64_t)in.attention.record_rows.size() != call.record.cache->rows())
      throw_type_error(a.env(), "recordKV.rows must name " + std::to_string(call.record.cache->rows()) +
                                    " rows (the cache's row count), got " + std::to_string(in.attention.record_rows.size()));
  }
  if (a.has("refKV")) call.ref = kv_target_from_js(a.object("refKV", "cache step"), model);
  if (call.record.cache && call.record.cache == call.ref.cache)
    throw_type_error(a.env(), "recordKV and refKV must be different caches");
  call.cancel = CancelTokenWrap::Optional(a.get("cancel"), a.name("cancel"));
  in.cancel = call.cancel.get();
  call.sync = a.boolean("sync", true);
  return call;
}

}  // namespace binding
}  // namespace indetail
