// JavaScript VitModel: a ViT (DINO) on one Engine, for block keys and their self-similarity.
//   loadVitModel(engine, configJson, weightSpec) -> Promise<VitModel>
//   model.keys(pixels: Tensor NHWC, layers: number[]) -> Promise<Tensor[]>   [N, tokens, hidden] each
//   model.selfSimilarity(pixels: Tensor NHWC, layer: number) -> Promise<Tensor [N, tokens, tokens]>
//   model.dispose(); model.disposed
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "../engine/models/vit_model.h"
#include "convert.h"
#include "model_async.h"
#include "registry.h"

namespace indetail {
namespace binding {

class VitWrap : public ModelObjectWrap<VitWrap, VitModel> {
 public:
  static constexpr const char* kName = "VitModel";
  static constexpr const char* kLoadName = "loadVitModel";
  static constexpr const char* kLoadWork = "indetail.vit.load";
  static VitModelConfig parse_config(const std::string& json) { return VitModelConfig::from_json(json); }

  static void Init(Napi::Env env, Napi::Object exports) {
    Export(env, exports, {InstanceMethod<&VitWrap::Keys>("keys"), InstanceMethod<&VitWrap::SelfSimilarity>("selfSimilarity")});
  }

  using ModelObjectWrap::ModelObjectWrap;

 private:
  Napi::Value Keys(const Napi::CallbackInfo& info) {
    auto m = model(info);
    Tensor x = engine_tensor_arg(info, 0, "pixels");
    std::vector<int64_t> layers;
    for (int32_t l : to_int_array(info[1], "layers")) layers.push_back(l);
    return tensors_async(info.Env(), "indetail.vit.keys", state_, [m, x, layers] { return m->keys(x, layers); }, true,
                         info.This().As<Napi::Object>());
  }

  Napi::Value SelfSimilarity(const Napi::CallbackInfo& info) {
    auto m = model(info);
    Tensor x = engine_tensor_arg(info, 0, "pixels");
    int64_t layer = to_int(info[1], "layer");
    auto st = state_;
    return tensors_async(info.Env(), "indetail.vit.self_similarity", state_,
                         [m, st, x, layer] { return std::vector<Tensor>{cosine_self_similarity(*st->backend, m->keys(x, {layer})[0])}; },
                         false, info.This().As<Napi::Object>());
  }
};

INDETAIL_BINDING(vit, VitWrap::Init);

}  // namespace binding
}  // namespace indetail
