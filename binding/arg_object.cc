#include "arg_object.h"

#include <algorithm>
#include <sstream>

namespace indetail {
namespace binding {

namespace {

std::vector<std::string> split_keys(const char* keys) {
  std::vector<std::string> out;
  std::istringstream in(keys);
  for (std::string k; in >> k;) out.push_back(k);
  return out;
}

std::string join(const std::vector<std::string>& keys) {
  std::string s;
  for (const auto& k : keys) s += (s.empty() ? "" : ", ") + k;
  return s;
}

}  // namespace

ArgObject::ArgObject(const Napi::Value& v, std::string what, const char* keys, std::string path)
    : what_(std::move(what)), keys_(split_keys(keys)), path_(std::move(path)) {
  std::string label = path_.empty() ? what_ + " arguments" : path_.substr(0, path_.size() - 1);
  o_ = to_object(v, label);
  Napi::Array names = o_.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string k = names.Get(i).As<Napi::String>().Utf8Value();
    if (std::find(keys_.begin(), keys_.end(), k) == keys_.end())
      throw_type_error(env(), what_ + ": unknown argument '" + path_ + k + "' (accepted: " + join(keys_) + ")");
  }
}

Napi::Value ArgObject::get(const char* key) const {
  if (std::find(keys_.begin(), keys_.end(), key) == keys_.end())
    throw_type_error(env(), what_ + ": internal error: argument '" + path_ + key + "' is read but not declared");
  return o_.Get(key);
}

bool ArgObject::has(const char* key) const {
  Napi::Value v = get(key);
  return !v.IsUndefined() && !v.IsNull();
}

ArgObject ArgObject::object(const char* key, const char* keys) const {
  return ArgObject(get(key), what_, keys, path_ + key + ".");
}

double ArgObject::number(const char* key, double def) const {
  Napi::Value v = get(key);
  return v.IsUndefined() ? def : to_number(v, name(key));
}

int64_t ArgObject::integer(const char* key, int64_t def) const {
  Napi::Value v = get(key);
  return v.IsUndefined() ? def : to_int(v, name(key));
}

bool ArgObject::boolean(const char* key, bool def) const {
  Napi::Value v = get(key);
  return v.IsUndefined() ? def : to_bool(v, name(key));
}

std::string ArgObject::string(const char* key, const std::string& def) const {
  Napi::Value v = get(key);
  return v.IsUndefined() ? def : to_string(v, name(key));
}

}  // namespace binding
}  // namespace indetail
