// JavaScript CancelToken: the flag long native work polls (engine/core/cancel.h). TypeScript
// makes one per call that takes an AbortSignal and sets it when the signal fires.
//   createCancelToken() -> CancelToken { cancel(), cancelled }
//   cancelChecks() -> number of check points passed by every token of the process (tests)
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "../engine/core/cancel.h"

namespace indetail {
namespace binding {

class CancelTokenWrap : public Napi::ObjectWrap<CancelTokenWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // The token behind an optional argument: null when `v` is undefined; a TypeError naming `name`
  // when it is something else.
  static std::shared_ptr<const CancelToken> Optional(const Napi::Value& v, const std::string& name);

  explicit CancelTokenWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Cancelled(const Napi::CallbackInfo& info);

  std::shared_ptr<CancelToken> token_;
};

}  // namespace binding
}  // namespace indetail
