// JavaScript ClipVisionModel: CLIP's vision tower with its projection on one Engine.
//   loadClipVisionModel(engine, configJson, weightSpec) -> Promise<ClipVisionModel>
//   model.imageEmbeds(pixels: Tensor NHWC) -> Promise<Tensor [N, projection_dim]>
//   model.dispose(); model.disposed
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "../engine/models/clip_vision.h"
#include "model_async.h"
#include "registry.h"

namespace indetail {
namespace binding {

class ClipVisionWrap : public ModelObjectWrap<ClipVisionWrap, ClipVisionModel> {
 public:
  static constexpr const char* kName = "ClipVisionModel";
  static constexpr const char* kLoadName = "loadClipVisionModel";
  static constexpr const char* kLoadWork = "indetail.clip_vision.load";
  static ClipVisionConfig parse_config(const std::string& json) { return ClipVisionConfig::from_json(json); }

  static void Init(Napi::Env env, Napi::Object exports) {
    Export(env, exports, {InstanceMethod<&ClipVisionWrap::ImageEmbeds>("imageEmbeds")});
  }

  using ModelObjectWrap::ModelObjectWrap;

 private:
  Napi::Value ImageEmbeds(const Napi::CallbackInfo& info) {
    auto m = model(info);
    Tensor pixels = engine_tensor_arg(info, 0, "pixels");
    return tensors_async(info.Env(), "indetail.clip_vision.image_embeds", state_, [m, pixels] { return std::vector<Tensor>{m->image_embeds(pixels)}; },
                         false, info.This().As<Napi::Object>());
  }
};

INDETAIL_BINDING(clip_vision, ClipVisionWrap::Init);

}  // namespace binding
}  // namespace indetail
