#include "convert.h"

#include <cmath>

namespace indetail {
namespace binding {

std::string describe_js(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    std::string s = std::to_string(d);
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) s = std::to_string((long long)d);
    return s;
  }
  if (v.IsString()) return "'" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsArray()) return "an array";
  if (v.IsTypedArray()) return "a typed array";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

void expected(Napi::Env env, const std::string& what, const std::string& name, const Napi::Value& got) {
  throw_type_error(env, "Expected " + what + " for " + name + " but received " + describe_js(got));
}

Shape to_shape(const Napi::Value& v, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsArray()) expected(env, "an array of non-negative integers", name, v);
  Napi::Array a = v.As<Napi::Array>();
  Shape s;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value d = a.Get(i);
    std::string n = name + "[" + std::to_string(i) + "]";
    if (!d.IsNumber()) expected(env, "a non-negative integer", n, d);
    double x = d.As<Napi::Number>().DoubleValue();
    if (!(x >= 0) || x != std::floor(x) || x > 9.0e15) expected(env, "a non-negative integer", n, d);
    s.push_back((int64_t)x);
  }
  return s;
}

std::string to_string(const Napi::Value& v, const std::string& name) {
  if (!v.IsString()) expected(v.Env(), "a string", name, v);
  return v.As<Napi::String>().Utf8Value();
}

double to_number(const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) expected(v.Env(), "a number", name, v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) expected(v.Env(), "a finite number", name, v);
  return d;
}

int64_t to_int(const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) expected(v.Env(), "an integer", name, v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15) expected(v.Env(), "an integer", name, v);
  return (int64_t)d;
}

bool to_bool(const Napi::Value& v, const std::string& name) {
  if (!v.IsBoolean()) expected(v.Env(), "a boolean", name, v);
  return v.As<Napi::Boolean>().Value();
}

std::vector<int32_t> to_int_array(const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) expected(v.Env(), "an array of integers", name, v);
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int32_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    int64_t x = to_int(a.Get(i), name + "[" + std::to_string(i) + "]");
    if (x < INT32_MIN || x > INT32_MAX) expected(v.Env(), "a 32-bit integer", name + "[" + std::to_string(i) + "]", a.Get(i));
    out.push_back((int32_t)x);
  }
  return out;
}

std::vector<float> to_float_array(const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) expected(v.Env(), "an array of numbers", name, v);
  Napi::Array a = v.As<Napi::Array>();
  std::vector<float> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back((float)to_number(a.Get(i), name + "[" + std::to_string(i) + "]"));
  return out;
}

DType to_dtype(const Napi::Value& v, const std::string& name) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  for (auto& c : s) c = (char)toupper((unsigned char)c);
  DType t;
  if (!v.IsString() || !dtype_from_name(s, &t))
    expected(v.Env(), "one of 'f32', 'f16', 'bf16', 'i32'", name, v);
  return t;
}

Napi::Object to_object(const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsArray()) expected(v.Env(), "an object", name, v);
  return v.As<Napi::Object>();
}

double opt_number(const Napi::Object& o, const char* key, double def) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? def : to_number(v, key);
}

int64_t opt_int(const Napi::Object& o, const char* key, int64_t def) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? def : to_int(v, key);
}

bool opt_bool(const Napi::Object& o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? def : to_bool(v, key);
}

std::string opt_string(const Napi::Object& o, const char* key, const std::string& def) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? def : to_string(v, key);
}

Napi::Array shape_to_js(Napi::Env env, const Shape& s) {
  Napi::Array a = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) a.Set((uint32_t)i, Napi::Number::New(env, (double)s[i]));
  return a;
}

}  // namespace binding
}  // namespace indetail
