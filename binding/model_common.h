// Helpers shared by the model bindings (UNet, ControlNet, text encoder, VAE).
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "../engine/models/weights.h"

namespace indetail {
namespace binding {

// A weight spec from JavaScript:
//   { files: [{ file: Safetensors, prefix?: string }], map?: { [modelName]: fileKey } }
//   or { random: seed } for seeded random weights of the shapes the model asks for
std::shared_ptr<WeightSource> weight_source_from_js(const Napi::Value& v, const std::string& name);

// A JSON config from JavaScript (a string, already validated/normalised in TypeScript).
std::string config_json_from_js(const Napi::Value& v, const std::string& name);

}  // namespace binding
}  // namespace indetail
