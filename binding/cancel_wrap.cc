#include "cancel_wrap.h"

#include "addon_data.h"
#include "convert.h"
#include "errors.h"
#include "registry.h"

namespace indetail {
namespace binding {

void CancelTokenWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "CancelToken",
                                    {
                                        InstanceMethod<&CancelTokenWrap::Cancel>("cancel"),
                                        InstanceAccessor<&CancelTokenWrap::Cancelled>("cancelled"),
                                    });
  addon_data(env).constructors["CancelToken"] = Napi::Persistent(ctor);
  exports.Set("CancelToken", ctor);
  exports.Set("createCancelToken", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                return addon_data(info.Env()).constructors["CancelToken"].New({});
              }));
  exports.Set("cancelChecks", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                return Napi::Number::New(info.Env(), (double)CancelToken::total_checks());
              }));
}

CancelTokenWrap::CancelTokenWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<CancelTokenWrap>(info), token_(std::make_shared<CancelToken>()) {}

std::shared_ptr<const CancelToken> CancelTokenWrap::Optional(const Napi::Value& v, const std::string& name) {
  Napi::Env env = v.Env();
  if (v.IsUndefined()) return nullptr;
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addon_data(env).constructors["CancelToken"].Value()))
    expected(env, "a CancelToken", name, v);
  return Unwrap(v.As<Napi::Object>())->token_;
}

Napi::Value CancelTokenWrap::Cancel(const Napi::CallbackInfo& info) {
  token_->cancel();
  return info.Env().Undefined();
}

Napi::Value CancelTokenWrap::Cancelled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), token_->cancelled());
}

INDETAIL_BINDING(cancel, CancelTokenWrap::Init);

}  // namespace binding
}  // namespace indetail
