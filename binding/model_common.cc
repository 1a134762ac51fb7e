#include "model_common.h"

#include "convert.h"
#include "engine_wrap.h"
#include "errors.h"
#include "safetensors_wrap.h"
#include "tensor_wrap.h"

namespace indetail {
namespace binding {

std::shared_ptr<WeightSource> weight_source_from_js(const Napi::Value& v, const std::string& name) {
  Napi::Object o = to_object(v, name);
  if (!o.Get("random").IsUndefined()) {
    int64_t seed = to_int(o.Get("random"), name + ".random");
    if (seed < 0) expected(v.Env(), "a non-negative integer seed", name + ".random", o.Get("random"));
    return WeightSource::random((uint64_t)seed);
  }
  Napi::Value files = o.Get("files");
  if (!files.IsArray()) expected(v.Env(), "an array of {file, prefix?}", name + ".files", files);
  auto src = std::make_shared<WeightSource>();
  Napi::Array a = files.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    std::string n = name + ".files[" + std::to_string(i) + "]";
    Napi::Object e = to_object(a.Get(i), n);
    src->add_file(safetensors_from_js(e.Get("file"), n + ".file"), opt_string(e, "prefix", ""));
  }
  Napi::Value map = o.Get("map");
  if (!map.IsUndefined() && !map.IsNull()) {
    Napi::Object m = to_object(map, name + ".map");
    Napi::Array keys = m.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
      std::string n = name + ".map['" + k + "']";
      Napi::Value entry = m.Get(k);
      if (entry.IsString()) {
        src->map_name(k, to_string(entry, n));
        continue;
      }
      // { key, rows?: [begin, count], transpose?: boolean }: a view of a stored tensor.
      Napi::Object e = to_object(entry, n);
      WeightSource::View view{to_string(e.Get("key"), n + ".key")};
      Napi::Value rows = e.Get("rows");
      if (!rows.IsUndefined()) {
        if (!rows.IsArray() || rows.As<Napi::Array>().Length() != 2) expected(v.Env(), "[begin, count]", n + ".rows", rows);
        view.row_begin = to_int(rows.As<Napi::Array>().Get(0u), n + ".rows[0]");
        view.rows = to_int(rows.As<Napi::Array>().Get(1u), n + ".rows[1]");
        if (view.row_begin < 0 || view.rows < 0) expected(v.Env(), "non-negative integers", n + ".rows", rows);
      }
      view.transpose = opt_bool(e, "transpose", false);
      src->map_view(k, std::move(view));
    }
  }
  return src;
}

std::string config_json_from_js(const Napi::Value& v, const std::string& name) { return to_string(v, name); }

Tensor engine_tensor(const Napi::Value& v, const std::string& name, const EngineState& st, const std::string& engine) {
  TensorWrap* tw = TensorWrap::WrapFromJs(v, name);
  if (tw->backend().get() != st.backend.get())
    throw_type_error(v.Env(), name + " must be a tensor of " + engine + " (" + st.backend->name() + "), got " +
                                  tw->tensor().describe() +
                                  (tw->backend() ? " of another engine" : " (a host tensor: upload it with engine.upload)"));
  return tw->tensor();
}

}  // namespace binding
}  // namespace indetail
