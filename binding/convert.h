// Reading typed values out of JavaScript arguments with messages that name what was expected
// ("Expected a positive integer for shape[1] but received -3").
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "../engine/core/tensor.h"
#include "errors.h"

namespace indetail {
namespace binding {

std::string describe_js(const Napi::Value& v);
[[noreturn]] void expected(Napi::Env env, const std::string& what, const std::string& name, const Napi::Value& got);

Shape to_shape(const Napi::Value& v, const std::string& name);
std::string to_string(const Napi::Value& v, const std::string& name);
double to_number(const Napi::Value& v, const std::string& name);
int64_t to_int(const Napi::Value& v, const std::string& name);
bool to_bool(const Napi::Value& v, const std::string& name);
std::vector<int32_t> to_int_array(const Napi::Value& v, const std::string& name);
std::vector<float> to_float_array(const Napi::Value& v, const std::string& name);
DType to_dtype(const Napi::Value& v, const std::string& name);

// Optional properties of an options object: the default when absent or undefined.
double opt_number(const Napi::Object& o, const char* key, double def);
int64_t opt_int(const Napi::Object& o, const char* key, int64_t def);
bool opt_bool(const Napi::Object& o, const char* key, bool def);
std::string opt_string(const Napi::Object& o, const char* key, const std::string& def);
Napi::Object to_object(const Napi::Value& v, const std::string& name);

Napi::Array shape_to_js(Napi::Env env, const Shape& s);

}  // namespace binding
}  // namespace indetail
