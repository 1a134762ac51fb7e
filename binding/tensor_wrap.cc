#include "tensor_wrap.h"

#include <cstring>

#include "../engine/core/finite.h"
#include "addon_data.h"
#include "async.h"
#include "convert.h"
#include "registry.h"

namespace indetail {
namespace binding {

namespace {
std::string lower_dtype(indetail::DType t) {
  std::string s = dtype_name(t);
  for (auto& c : s) c = (char)tolower((unsigned char)c);
  return s;
}
}  // namespace

void TensorWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Tensor",
                                    {
                                        InstanceAccessor<&TensorWrap::Shape>("shape"),
                                        InstanceAccessor<&TensorWrap::DType>("dtype"),
                                        InstanceAccessor<&TensorWrap::DeviceName>("device"),
                                        InstanceAccessor<&TensorWrap::BackendName>("backend"),
                                        InstanceAccessor<&TensorWrap::ByteLength>("byteLength"),
                                        InstanceAccessor<&TensorWrap::Disposed>("disposed"),
                                        InstanceMethod<&TensorWrap::Read>("read"),
                                        InstanceMethod<&TensorWrap::ReadSync>("readSync"),
                                        InstanceMethod<&TensorWrap::FirstNonFinite>("firstNonFinite"),
                                        InstanceMethod<&TensorWrap::Dispose>("dispose"),
                                        InstanceMethod<&TensorWrap::Slice>("slice"),
                                        InstanceMethod<&TensorWrap::Reshape>("reshape"),
                                    });
  addon_data(env).constructors["Tensor"] = Napi::Persistent(ctor);
  exports.Set("Tensor", ctor);
}

INDETAIL_BINDING(tensor, TensorWrap::Init);

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  // Only native code creates tensors (TensorWrap::New attaches the data afterwards).
  if (info.Length() != 1 || !info[0].IsExternal())
    throw_type_error(info.Env(), "Tensor cannot be constructed directly; use an Engine or a Safetensors file");
}

Napi::Object TensorWrap::New(Napi::Env env, Tensor t, std::shared_ptr<Backend> backend) {
  Napi::Object obj = addon_data(env).constructors["Tensor"].New({Napi::External<void>::New(env, nullptr)});
  TensorWrap* w = TensorWrap::Unwrap(obj);
  w->tensor_ = std::move(t);
  w->backend_ = std::move(backend);
  return obj;
}

bool TensorWrap::Is(const Napi::Value& v) {
  if (!v.IsObject()) return false;
  return v.As<Napi::Object>().InstanceOf(addon_data(v.Env()).constructors["Tensor"].Value());
}

TensorWrap* TensorWrap::WrapFromJs(const Napi::Value& v, const std::string& name) {
  if (!Is(v)) expected(v.Env(), "a Tensor", name, v);
  TensorWrap* w = Napi::ObjectWrap<TensorWrap>::Unwrap(v.As<Napi::Object>());
  if (!w->tensor_.defined()) throw_type_error(v.Env(), name + " is a disposed Tensor");
  return w;
}

const Tensor& TensorWrap::FromJs(const Napi::Value& v, const std::string& name) { return WrapFromJs(v, name)->tensor_; }

void TensorWrap::check_live(Napi::Env env) const {
  if (!tensor_.defined()) throw_disposed(env, "Tensor is disposed");
}

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  check_live(info.Env());
  return shape_to_js(info.Env(), tensor_.shape());
}
Napi::Value TensorWrap::DType(const Napi::CallbackInfo& info) {
  check_live(info.Env());
  return Napi::String::New(info.Env(), lower_dtype(tensor_.dtype()));
}
Napi::Value TensorWrap::DeviceName(const Napi::CallbackInfo& info) {
  check_live(info.Env());
  return Napi::String::New(info.Env(), device_name(tensor_.device()));
}
Napi::Value TensorWrap::BackendName(const Napi::CallbackInfo& info) {
  check_live(info.Env());
  return Napi::String::New(info.Env(), backend_ ? backend_->name() : std::string("host"));
}
Napi::Value TensorWrap::ByteLength(const Napi::CallbackInfo& info) {
  check_live(info.Env());
  return Napi::Number::New(info.Env(), (double)tensor_.nbytes());
}
Napi::Value TensorWrap::Disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor_.defined());
}

Napi::Value host_tensor_to_js(Napi::Env env, const Tensor& host) {
  size_t n = (size_t)host.numel();
  if (host.dtype() == indetail::DType::I32) {
    Napi::Int32Array a = Napi::Int32Array::New(env, n);
    if (n) std::memcpy(a.Data(), host.raw(), n * 4);
    return a;
  }
  Napi::Float32Array a = Napi::Float32Array::New(env, n);
  if (n) std::memcpy(a.Data(), host.raw(), n * 4);
  return a;
}

static Tensor to_host_readable(const Tensor& t, const std::shared_ptr<Backend>& backend) {
  if (t.device() == Device::CPU && (t.layout() == 0 || !backend)) {  // packed weights: read through the backend
    if (t.dtype() == indetail::DType::F32 || t.dtype() == indetail::DType::I32) return t;
    return to_f32_host(t);
  }
  if (!backend) fail(ErrorKind::Internal, "device tensor without a backend");
  return backend->download(t);
}

Napi::Value TensorWrap::ReadSync(const Napi::CallbackInfo& info) {
  check_live(info.Env());
  return guard(info.Env(), [&] { return host_tensor_to_js(info.Env(), to_host_readable(tensor_, backend_)); });
}

// Reads `t` to the host off the JavaScript thread; `then` turns the host copy into the result.
static Napi::Value read_then(const Napi::CallbackInfo& info, const Tensor& t, const std::shared_ptr<Backend>& backend,
                             const char* name, std::function<Finish(const Tensor&)> then) {
  return run_async(info.Env(), name, [t, backend, then]() -> Finish { return then(to_host_readable(t, backend)); },
                   info.This().As<Napi::Object>());
}

Napi::Value TensorWrap::Read(const Napi::CallbackInfo& info) {
  check_live(info.Env());
  return read_then(info, tensor_, backend_, "indetail.tensor.read", [](const Tensor& host) -> Finish {
    return [host](Napi::Env env) { return host_tensor_to_js(env, host); };
  });
}

// firstNonFinite() -> Promise<number>: the index of the first NaN or ±Inf value, -1 when there is
// none (float tensors; device tensors are read back first).
Napi::Value TensorWrap::FirstNonFinite(const Napi::CallbackInfo& info) {
  check_live(info.Env());
  return read_then(info, tensor_, backend_, "indetail.tensor.firstNonFinite", [](const Tensor& host) -> Finish {
    int64_t index = first_non_finite(host);
    return [index](Napi::Env env) { return Napi::Number::New(env, (double)index); };
  });
}

// slice(start, count): frames [start, start + count) of dimension 0, sharing memory.
Napi::Value TensorWrap::Slice(const Napi::CallbackInfo& info) {
  check_live(info.Env());
  int64_t start = to_int(info[0], "start");
  int64_t count = to_int(info[1], "count");
  Tensor t = guard(info.Env(), [&] { return tensor_.slice0(start, count); });
  return New(info.Env(), t, backend_);
}

// reshape(shape): the same memory with another shape (one entry may be -1).
Napi::Value TensorWrap::Reshape(const Napi::CallbackInfo& info) {
  check_live(info.Env());
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) expected(env, "an array of integers", "shape", info[0]);
  Napi::Array a = info[0].As<Napi::Array>();
  indetail::Shape shape;
  for (uint32_t i = 0; i < a.Length(); ++i) shape.push_back(to_int(a.Get(i), "shape[" + std::to_string(i) + "]"));
  Tensor t = guard(env, [&] { return tensor_.reshape(shape); });
  return New(env, t, backend_);
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  tensor_ = Tensor();
  backend_.reset();
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace indetail
