// JavaScript VAE: an AutoencoderKL loaded on one engine.
//   loadVae(engine, configJson, weightSpec) -> Promise<Vae>
//   vae.encode(image, tiling?, cancel?) -> Promise<{ mean, logvar }>    image NHWC [-1, 1]
//   vae.decode(latents, tiling?, cancel?) -> Promise<Tensor>            latents NHWC, unscaled
//   cancel: a CancelToken (cancel_wrap.h), polled between blocks and tiles
//   tiling: { tileSize, overlap, globalMidBlock? } (image pixels) or undefined for one pass
#include <napi.h>

#include <memory>

#include "../engine/models/vae.h"
#include "addon_data.h"
#include "async.h"
#include "cancel_wrap.h"
#include "convert.h"
#include "engine_wrap.h"
#include "model_common.h"
#include "registry.h"
#include "tensor_wrap.h"

namespace indetail {
namespace binding {

namespace {

VaeTiling tiling_from_js(const Napi::Value& v) {
  VaeTiling t;
  if (v.IsUndefined() || v.IsNull()) return t;
  Napi::Object o = to_object(v, "tiling");
  t.enabled = true;
  t.tile_size = to_int(o.Get("tileSize"), "tiling.tileSize");
  t.overlap = to_int(o.Get("overlap"), "tiling.overlap");
  t.global_mid_block = opt_bool(o, "globalMidBlock", true);
  return t;
}

}  // namespace

class VaeWrap : public Napi::ObjectWrap<VaeWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "Vae",
                                      {
                                          InstanceAccessor<&VaeWrap::Disposed>("disposed"),
                                          InstanceAccessor<&VaeWrap::UnusedWeights>("unusedWeights"),
                                          InstanceMethod<&VaeWrap::Encode>("encode"),
                                          InstanceMethod<&VaeWrap::Decode>("decode"),
                                          InstanceMethod<&VaeWrap::Dispose>("dispose"),
                                      });
    addon_data(env).constructors["Vae"] = Napi::Persistent(ctor);
    exports.Set("Vae", ctor);
    exports.Set("loadVae", Napi::Function::New(env, Load));
  }

  explicit VaeWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VaeWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) throw_type_error(info.Env(), "use loadVae(engine, config, weights)");
  }

 private:
  // loadVae(engine, configJson, weights): builds the model off the JavaScript thread.
  static Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = EngineWrap::State(info[0], "engine");
    std::string json = config_json_from_js(info[1], "config");
    std::shared_ptr<WeightSource> src = weight_source_from_js(info[2], "weights");
    VaeConfig cfg = guard(env, [&] { return VaeConfig::parse(json); });
    return run_async(env, "indetail.vae.load", [st, src, cfg]() -> Finish {
      std::shared_ptr<AutoencoderKL> model;
      {
        std::lock_guard<std::mutex> lk(st->mutex);
        model = std::make_shared<AutoencoderKL>(cfg, *src, st->backend);
        st->backend->synchronize();
      }
      return [st, model](Napi::Env env) -> Napi::Value {
        Napi::Object obj = addon_data(env).constructors["Vae"].New({Napi::External<void>::New(env, nullptr)});
        VaeWrap* w = Unwrap(obj);
        w->state_ = st;
        w->model_ = model;
        return obj;
      };
    }, info[0].As<Napi::Object>());
  }

  void live(Napi::Env env) const {
    if (!model_) throw_disposed(env, "VAE is disposed");
  }

  // The tensor behind a JS argument, checked to live on this VAE's engine.
  Tensor input(const Napi::Value& v, const char* name) const {
    return engine_tensor(v, name, *state_, "the engine this VAE was loaded on");
  }

  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Tensor image = input(info[0], "image");
    VaeTiling tiling = tiling_from_js(info[1]);
    auto cancel = CancelTokenWrap::Optional(info[2], "cancel");
    auto st = state_;
    auto model = model_;
    return run_async(env, "indetail.vae.encode", [st, model, image, tiling, cancel]() -> Finish {
      AutoencoderKL::Posterior post;
      {
        std::lock_guard<std::mutex> lk(st->mutex);
        post = model->encode(image, tiling, cancel.get());
        st->backend->synchronize();
      }
      return [st, post](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("mean", TensorWrap::New(env, post.mean, st->backend));
        o.Set("logvar", TensorWrap::New(env, post.logvar, st->backend));
        return o;
      };
    }, info.This().As<Napi::Object>());
  }

  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Tensor latents = input(info[0], "latents");
    VaeTiling tiling = tiling_from_js(info[1]);
    auto cancel = CancelTokenWrap::Optional(info[2], "cancel");
    auto st = state_;
    auto model = model_;
    return run_async(env, "indetail.vae.decode", [st, model, latents, tiling, cancel]() -> Finish {
      Tensor image;
      {
        std::lock_guard<std::mutex> lk(st->mutex);
        image = model->decode(latents, tiling, cancel.get());
        st->backend->synchronize();
      }
      return [st, image](Napi::Env env) -> Napi::Value { return TensorWrap::New(env, image, st->backend); };
    }, info.This().As<Napi::Object>());
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    // Work in flight holds its own references; the weights go when it finishes.
    model_.reset();
    state_.reset();
    return info.Env().Undefined();
  }

  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

  Napi::Value UnusedWeights(const Napi::CallbackInfo& info) {
    live(info.Env());
    const auto& names = model_->unused_weights();
    Napi::Array a = Napi::Array::New(info.Env(), names.size());
    for (size_t i = 0; i < names.size(); ++i) a.Set((uint32_t)i, Napi::String::New(info.Env(), names[i]));
    return a;
  }

  std::shared_ptr<EngineState> state_;
  std::shared_ptr<AutoencoderKL> model_;
};

INDETAIL_BINDING(vae, VaeWrap::Init);

}  // namespace binding
}  // namespace indetail
