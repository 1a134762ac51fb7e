// JavaScript handle of an engine Tensor. Keeps the tensor's memory alive until dispose() or GC.
#pragma once
#include <napi.h>

#include <memory>

#include "../engine/backend.h"

namespace indetail {
namespace binding {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // backend: the backend owning device memory (nullptr for host tensors).
  static Napi::Object New(Napi::Env env, Tensor t, std::shared_ptr<Backend> backend);
  static bool Is(const Napi::Value& v);
  // The tensor behind a JS value; throws a TypeError naming `name` when it is not a live tensor.
  static const Tensor& FromJs(const Napi::Value& v, const std::string& name);
  static TensorWrap* WrapFromJs(const Napi::Value& v, const std::string& name);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  const Tensor& tensor() const { return tensor_; }
  const std::shared_ptr<Backend>& backend() const { return backend_; }

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value DType(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value BackendName(const Napi::CallbackInfo& info);
  Napi::Value ByteLength(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value FirstNonFinite(const Napi::CallbackInfo& info);
  Napi::Value ReadSync(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Slice(const Napi::CallbackInfo& info);
  Napi::Value Reshape(const Napi::CallbackInfo& info);
  void check_live(Napi::Env env) const;

  Tensor tensor_;
  std::shared_ptr<Backend> backend_;
};

// Copies a host tensor (F32 or I32) into a new JavaScript typed array (never an external buffer).
Napi::Value host_tensor_to_js(Napi::Env env, const Tensor& host);

}  // namespace binding
}  // namespace indetail
