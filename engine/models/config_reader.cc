#include "config_reader.h"

#include "../core/error.h"

namespace indetail {

ConfigReader::ConfigReader(const std::string& json_text, std::string what) : what_(std::move(what)) {
  std::string err;
  if (!json::parse(json_text.data(), json_text.size(), &root_, &err))
    fail(ErrorKind::InvalidArgument, what_, " is not valid JSON: ", err);
  if (!root_.is_object()) fail(ErrorKind::InvalidArgument, what_, " must be a JSON object");
}

ConfigReader::ConfigReader(const json::Value& object, std::string what) : root_(object), what_(std::move(what)) {
  if (!root_.is_object()) fail(ErrorKind::InvalidArgument, what_, " must be a JSON object");
}

bool ConfigReader::has(const std::string& key) const {
  const json::Value* v = root_.find(key);
  return v && !v->is_null();
}

const json::Value& ConfigReader::need(const std::string& key) const {
  const json::Value* v = root_.find(key);
  if (!v || v->is_null()) fail(ErrorKind::InvalidArgument, what_, ": missing field '", key, "'");
  return *v;
}

int64_t ConfigReader::integer(const std::string& key) const {
  const json::Value& v = need(key);
  if (!v.is_int()) fail(ErrorKind::InvalidArgument, what_, ": '", key, "' must be an integer, found ", json::type_name(v.type()));
  return v.as_int();
}

int64_t ConfigReader::integer(const std::string& key, int64_t def) const { return has(key) ? integer(key) : def; }

int64_t ConfigReader::positive_integer(const std::string& key) const {
  int64_t v = integer(key);
  if (v <= 0) fail(ErrorKind::InvalidArgument, what_, ": '", key, "' must be a positive integer, found ", v);
  return v;
}

double ConfigReader::positive_number(const std::string& key) const {
  double v = number(key);
  if (!(v > 0)) fail(ErrorKind::InvalidArgument, what_, ": '", key, "' must be positive, found ", v);
  return v;
}

double ConfigReader::number(const std::string& key) const {
  const json::Value& v = need(key);
  if (!v.is_number()) fail(ErrorKind::InvalidArgument, what_, ": '", key, "' must be a number, found ", json::type_name(v.type()));
  return v.as_number();
}

double ConfigReader::number(const std::string& key, double def) const { return has(key) ? number(key) : def; }

bool ConfigReader::boolean(const std::string& key, bool def) const {
  if (!has(key)) return def;
  const json::Value& v = need(key);
  if (!v.is_bool()) fail(ErrorKind::InvalidArgument, what_, ": '", key, "' must be true or false, found ", json::type_name(v.type()));
  return v.as_bool();
}

std::string ConfigReader::string(const std::string& key) const {
  const json::Value& v = need(key);
  if (!v.is_string()) fail(ErrorKind::InvalidArgument, what_, ": '", key, "' must be a string, found ", json::type_name(v.type()));
  return v.as_string();
}

std::string ConfigReader::string(const std::string& key, const std::string& def) const {
  return has(key) ? string(key) : def;
}

std::vector<int64_t> ConfigReader::integers(const std::string& key) const {
  const json::Value& v = need(key);
  if (!v.is_array()) fail(ErrorKind::InvalidArgument, what_, ": '", key, "' must be a list of integers");
  std::vector<int64_t> out;
  for (const auto& x : v.items()) {
    if (!x.is_int()) fail(ErrorKind::InvalidArgument, what_, ": '", key, "' must be a list of integers");
    out.push_back(x.as_int());
  }
  return out;
}

std::vector<std::string> ConfigReader::strings(const std::string& key) const {
  const json::Value& v = need(key);
  if (!v.is_array()) fail(ErrorKind::InvalidArgument, what_, ": '", key, "' must be a list of strings");
  std::vector<std::string> out;
  for (const auto& x : v.items()) {
    if (!x.is_string()) fail(ErrorKind::InvalidArgument, what_, ": '", key, "' must be a list of strings");
    out.push_back(x.as_string());
  }
  return out;
}

std::vector<int64_t> ConfigReader::integers_or_repeat(const std::string& key, size_t n) const {
  const json::Value& v = need(key);
  if (v.is_int()) return std::vector<int64_t>(n, v.as_int());
  std::vector<int64_t> out = integers(key);
  if (out.size() != n)
    fail(ErrorKind::InvalidArgument, what_, ": '", key, "' has ", out.size(), " entries, expected ", n);
  return out;
}

}  // namespace indetail
