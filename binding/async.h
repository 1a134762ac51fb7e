// Runs engine work off the JavaScript thread and settles a Promise with the result.
// `work` runs on a libuv worker and must not touch N-API; it returns a `finish` callback that
// builds the JavaScript result on the main thread.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>

#include "errors.h"

namespace indetail {
namespace binding {

using Finish = std::function<Napi::Value(Napi::Env)>;

class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name, std::function<Finish()> work, Napi::Object keep_alive)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)) {
    if (!keep_alive.IsEmpty()) keep_ = Napi::Persistent(keep_alive);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      finish_ = work_();
    } catch (...) {
      error_ = caught_error();
      failed_ = true;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (failed_) {
      deferred_.Reject(make_js_error(env, error_).Value());
      return;
    }
    try {
      deferred_.Resolve(finish_ ? finish_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(make_js_error(env, caught_error()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<Finish()> work_;
  Finish finish_;
  bool failed_ = false;
  CaughtError error_;
  Napi::ObjectReference keep_;
};

// keep_alive: the JavaScript object whose native state the work uses (kept from GC until done).
inline Napi::Promise run_async(Napi::Env env, const char* name, std::function<Finish()> work,
                               Napi::Object keep_alive = Napi::Object()) {
  auto* w = new PromiseWorker(env, name, std::move(work), keep_alive);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace binding
}  // namespace indetail
