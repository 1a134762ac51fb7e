#include "kv_cache_wrap.h"

#include "addon_data.h"
#include "convert.h"
#include "registry.h"

namespace indetail {
namespace binding {

void KVCacheWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "ImagePromptKVCache",
                                    {
                                        InstanceAccessor<&KVCacheWrap::Steps>("steps"),
                                        InstanceAccessor<&KVCacheWrap::Rows>("rows"),
                                        InstanceAccessor<&KVCacheWrap::Layers>("layers"),
                                        InstanceAccessor<&KVCacheWrap::Bytes>("bytes"),
                                        InstanceAccessor<&KVCacheWrap::RecordedSteps>("recordedSteps"),
                                        InstanceAccessor<&KVCacheWrap::Disposed>("disposed"),
                                        InstanceMethod<&KVCacheWrap::Has>("has"),
                                        InstanceMethod<&KVCacheWrap::Delete>("delete"),
                                        InstanceMethod<&KVCacheWrap::Clear>("clear"),
                                        InstanceMethod<&KVCacheWrap::Dispose>("dispose"),
                                    });
  addon_data(env).constructors["ImagePromptKVCache"] = Napi::Persistent(ctor);
  exports.Set("ImagePromptKVCache", ctor);
}

INDETAIL_BINDING(kv_cache, KVCacheWrap::Init);

KVCacheWrap::KVCacheWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KVCacheWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw_type_error(info.Env(), "use unet.createKVCache(steps, rows) to create an image-prompt K/V cache");
}

Napi::Object KVCacheWrap::New(Napi::Env env, std::shared_ptr<ImagePromptKVCache> cache) {
  Napi::Object obj = addon_data(env).constructors["ImagePromptKVCache"].New({Napi::External<void>::New(env, nullptr)});
  Unwrap(obj)->cache_ = std::move(cache);
  return obj;
}

std::shared_ptr<ImagePromptKVCache> KVCacheWrap::FromJs(const Napi::Value& v, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addon_data(env).constructors["ImagePromptKVCache"].Value()))
    expected(env, "an ImagePromptKVCache", name, v);
  KVCacheWrap* w = Unwrap(v.As<Napi::Object>());
  if (!w->cache_) throw_type_error(env, name + " is a disposed ImagePromptKVCache");
  return w->cache_;
}

const ImagePromptKVCache& KVCacheWrap::live(Napi::Env env) const {
  if (!cache_) throw_disposed(env, "ImagePromptKVCache is disposed");
  return *cache_;
}

Napi::Value KVCacheWrap::Steps(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), (double)live(info.Env()).steps());
}
Napi::Value KVCacheWrap::Rows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), (double)live(info.Env()).rows());
}
Napi::Value KVCacheWrap::Layers(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), (double)live(info.Env()).layers());
}
Napi::Value KVCacheWrap::Bytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), cache_ ? (double)cache_->bytes() : 0.0);
}
Napi::Value KVCacheWrap::RecordedSteps(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), cache_ ? (double)cache_->recorded_steps() : 0.0);
}
Napi::Value KVCacheWrap::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !cache_); }

Napi::Value KVCacheWrap::Has(const Napi::CallbackInfo& info) {
  const ImagePromptKVCache& c = live(info.Env());
  return Napi::Boolean::New(info.Env(), c.has(to_int(info[0], "step")));
}

Napi::Value KVCacheWrap::Delete(const Napi::CallbackInfo& info) {
  live(info.Env());
  int64_t step = to_int(info[0], "step");
  guard(info.Env(), [&] { cache_->erase(step); });
  return info.Env().Undefined();
}

Napi::Value KVCacheWrap::Clear(const Napi::CallbackInfo& info) {
  live(info.Env());
  cache_->clear();
  return info.Env().Undefined();
}

// Drops this handle's reference: the tensors are freed once no running forward uses them.
Napi::Value KVCacheWrap::Dispose(const Napi::CallbackInfo& info) {
  cache_.reset();
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace indetail
