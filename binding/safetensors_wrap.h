#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "../engine/core/safetensors.h"

namespace indetail {
namespace binding {

// The open file behind a JavaScript Safetensors object (TypeError naming `name` otherwise).
std::shared_ptr<SafetensorsFile> safetensors_from_js(const Napi::Value& v, const std::string& name);

}  // namespace binding
}  // namespace indetail
