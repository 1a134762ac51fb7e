// JavaScript Safetensors: a validated, memory-mapped checkpoint file.
#include <napi.h>

#include <cstring>

#include "../engine/core/safetensors.h"
#include "addon_data.h"
#include "async.h"
#include "convert.h"
#include "registry.h"
#include "safetensors_wrap.h"
#include "tensor_wrap.h"

namespace indetail {
namespace binding {

class SafetensorsWrap : public Napi::ObjectWrap<SafetensorsWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "Safetensors",
                                      {
                                          InstanceAccessor<&SafetensorsWrap::Path>("path"),
                                          InstanceAccessor<&SafetensorsWrap::FileBytes>("byteLength"),
                                          InstanceAccessor<&SafetensorsWrap::Metadata>("metadata"),
                                          InstanceMethod<&SafetensorsWrap::Entries>("entries"),
                                          InstanceMethod<&SafetensorsWrap::Has>("has"),
                                          InstanceMethod<&SafetensorsWrap::TensorF32>("tensor"),
                                          InstanceMethod<&SafetensorsWrap::TensorRaw>("tensorRaw"),
                                          InstanceMethod<&SafetensorsWrap::Close>("close"),
                                      });
    addon_data(env).constructors["Safetensors"] = Napi::Persistent(ctor);
    exports.Set("Safetensors", ctor);
    exports.Set("openSafetensors", Napi::Function::New(env, OpenAsync));
    exports.Set("openSafetensorsSync", Napi::Function::New(env, OpenSync));
  }

  explicit SafetensorsWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SafetensorsWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw_type_error(info.Env(), "use openSafetensors(path) to open a .safetensors file");
  }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<SafetensorsFile> f) {
    Napi::Object obj = addon_data(env).constructors["Safetensors"].New({Napi::External<void>::New(env, nullptr)});
    Unwrap(obj)->file_ = std::move(f);
    return obj;
  }

  static Napi::Value OpenSync(const Napi::CallbackInfo& info) {
    std::string path = to_string(info[0], "path");
    auto f = guard(info.Env(), [&] { return SafetensorsFile::open(path); });
    return Wrap(info.Env(), f);
  }

  static Napi::Value OpenAsync(const Napi::CallbackInfo& info) {
    std::string path = to_string(info[0], "path");
    return run_async(info.Env(), "indetail.safetensors.open", [path]() -> Finish {
      auto f = SafetensorsFile::open(path);
      return [f](Napi::Env env) -> Napi::Value { return Wrap(env, f); };
    });
  }

 private:
  const SafetensorsFile& file(Napi::Env env) const {
    if (!file_) throw_disposed(env, "Safetensors file is closed");
    return *file_;
  }

  Napi::Value Path(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), file(info.Env()).path()); }
  Napi::Value FileBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), (double)file(info.Env()).file_bytes());
  }
  Napi::Value Metadata(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    for (const auto& kv : file(info.Env()).metadata()) o.Set(kv.first, kv.second);
    return o;
  }
  // entries(): [{name, dtype, shape, byteOffset, byteLength}] sorted by name
  Napi::Value Entries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& entries = file(env).entries();
    Napi::Array a = Napi::Array::New(env, entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", e.name);
      o.Set("dtype", e.dtype_name);
      o.Set("shape", shape_to_js(env, e.shape));
      o.Set("byteOffset", Napi::Number::New(env, (double)e.begin));
      o.Set("byteLength", Napi::Number::New(env, (double)(e.end - e.begin)));
      a.Set((uint32_t)i, o);
    }
    return a;
  }
  Napi::Value Has(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), file(info.Env()).find(to_string(info[0], "name")) != nullptr);
  }
  // tensor(name): host tensor converted to F32 (zero-copy when already F32 and aligned).
  Napi::Value TensorF32(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = to_string(info[0], "name");
    const SafetensorsFile& f = file(env);
    Tensor t = guard(env, [&] {
      const SafetensorsEntry& e = f.entry(name);
      if (e.dtype_supported && (e.dtype == indetail::DType::I32 || e.dtype == indetail::DType::U8 || e.dtype == indetail::DType::I64)) {
        // Integer tensors: I32 stays I32, others are widened/narrowed to F32 for reading.
        if (e.dtype == indetail::DType::I32) {
          Tensor raw = f.tensor(name);
          Tensor out = Tensor::host(indetail::DType::I32, raw.shape());
          std::memcpy(out.raw(), raw.raw(), raw.nbytes());
          return out;
        }
        return to_f32_host(f.tensor(name));
      }
      return f.tensor_f32(name);
    });
    return TensorWrap::New(env, t, nullptr);
  }
  // tensorRaw(name): the tensor in its stored dtype (a view of the mapping).
  Napi::Value TensorRaw(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = to_string(info[0], "name");
    const SafetensorsFile& f = file(env);
    Tensor t = guard(env, [&] { return f.tensor(name); });
    return TensorWrap::New(env, t, nullptr);
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    file_.reset();  // tensors handed out keep the mapping alive
    return info.Env().Undefined();
  }

  std::shared_ptr<SafetensorsFile> file_;
  friend std::shared_ptr<SafetensorsFile> safetensors_from_js(const Napi::Value& v, const std::string& name);
};

std::shared_ptr<SafetensorsFile> safetensors_from_js(const Napi::Value& v, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addon_data(env).constructors["Safetensors"].Value()))
    expected(env, "a Safetensors file", name, v);
  auto f = SafetensorsWrap::Unwrap(v.As<Napi::Object>())->file_;
  if (!f) throw_type_error(env, name + " is a closed Safetensors file");
  return f;
}

INDETAIL_BINDING(safetensors, SafetensorsWrap::Init);

}  // namespace binding
}  // namespace indetail
