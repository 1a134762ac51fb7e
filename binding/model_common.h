// Helpers shared by the model bindings (UNet, ControlNet, text encoder, VAE).
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "../engine/core/tensor.h"
#include "../engine/models/weights.h"

namespace indetail {
namespace binding {

// A weight spec from JavaScript:
//   { files: [{ file: Safetensors, prefix?: string }], map?: { [modelName]: fileKey } }
//   or { random: seed } for seeded random weights of the shapes the model asks for
std::shared_ptr<WeightSource> weight_source_from_js(const Napi::Value& v, const std::string& name);

// A JSON config from JavaScript (a string, already validated/normalised in TypeScript).
std::string config_json_from_js(const Napi::Value& v, const std::string& name);

struct EngineState;

// The tensor behind a model argument, checked to live on the model's engine `st`; otherwise a
// TypeError: "<name> must be a tensor of <engine> (<backend>), got <tensor> of another engine"
// (or "(a host tensor: ...)").
Tensor engine_tensor(const Napi::Value& v, const std::string& name, const EngineState& st,
                     const std::string& engine = "the model's engine");

}  // namespace binding
}  // namespace indetail
