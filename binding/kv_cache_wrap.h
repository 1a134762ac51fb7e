// JavaScript ImagePromptKVCache: the native image-prompt K/V cache of one UNet (created by
// unet.createKVCache(steps, rows), filled and read by unet.forward).
#pragma once
#include <napi.h>

#include <memory>

#include "../engine/models/kv_cache.h"

namespace indetail {
namespace binding {

class KVCacheWrap : public Napi::ObjectWrap<KVCacheWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object New(Napi::Env env, std::shared_ptr<ImagePromptKVCache> cache);
  // The live cache behind a JS value; throws a TypeError naming `name` otherwise.
  static std::shared_ptr<ImagePromptKVCache> FromJs(const Napi::Value& v, const std::string& name);

  explicit KVCacheWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Steps(const Napi::CallbackInfo& info);
  Napi::Value Rows(const Napi::CallbackInfo& info);
  Napi::Value Layers(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  Napi::Value RecordedSteps(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Has(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value Clear(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  const ImagePromptKVCache& live(Napi::Env env) const;

  std::shared_ptr<ImagePromptKVCache> cache_;
};

}  // namespace binding
}  // namespace indetail
