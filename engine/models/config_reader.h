// Reads a model config (JSON text, normalised in TypeScript) with errors that name the model,
// the field and what was expected. Unknown fields are ignored here: TypeScript decides which
// config values are supported and refuses the others by name.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../core/json.h"

namespace indetail {

class ConfigReader {
 public:
  // Parses `json_text`; `what` names the model in messages ("UNet config").
  ConfigReader(const std::string& json_text, std::string what);
  ConfigReader(const json::Value& object, std::string what);

  bool has(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  int64_t integer(const std::string& key, int64_t def) const;
  double number(const std::string& key) const;
  double number(const std::string& key, double def) const;
  // The same, refused unless > 0 (sizes, counts, epsilons).
  int64_t positive_integer(const std::string& key) const;
  double positive_number(const std::string& key) const;
  bool boolean(const std::string& key, bool def) const;
  std::string string(const std::string& key) const;
  std::string string(const std::string& key, const std::string& def) const;
  std::vector<int64_t> integers(const std::string& key) const;
  std::vector<std::string> strings(const std::string& key) const;
  // An int or a list of ints: a single value is repeated `n` times.
  std::vector<int64_t> integers_or_repeat(const std::string& key, size_t n) const;
  const json::Value& root() const { return root_; }
  const std::string& what() const { return what_; }

 private:
  const json::Value& need(const std::string& key) const;
  json::Value root_;
  std::string what_;
};

}  // namespace indetail
