// JavaScript Engine: one backend (cpu or cuda) plus the lock that serialises work on it.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>

#include "../engine/backend.h"

namespace indetail {
namespace binding {

struct EngineState {
  std::shared_ptr<Backend> backend;
  std::mutex mutex;  // one call at a time per backend
};

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // The live engine state behind a JS Engine (throws naming `name` otherwise).
  static std::shared_ptr<EngineState> State(const Napi::Value& v, const std::string& name);
  explicit EngineWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value BackendName(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value ComputeDType(const Napi::CallbackInfo& info);
  Napi::Value TensorFrom(const Napi::CallbackInfo& info);
  Napi::Value Empty(const Napi::CallbackInfo& info);
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value PrepareWeight(const Napi::CallbackInfo& info);
  Napi::Value MemoryStats(const Napi::CallbackInfo& info);
  Napi::Value Synchronize(const Napi::CallbackInfo& info);
  Napi::Value Op(const Napi::CallbackInfo& info);
  Napi::Value OpSync(const Napi::CallbackInfo& info);
  Napi::Value TimeOp(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  std::shared_ptr<EngineState> live(Napi::Env env) const;

  std::shared_ptr<EngineState> state_;
};

}  // namespace binding
}  // namespace indetail
