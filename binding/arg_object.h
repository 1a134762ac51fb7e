// An arguments object with a declared set of keys (the type of an op's or a forward's arguments):
// a key outside the set is rejected naming the call and the key, so a misspelt argument is an
// error instead of a silent default. Values are read by key with the messages of convert.h; names
// in messages carry the path of nested objects ("control.frameScale").
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "convert.h"

namespace indetail {
namespace binding {

class ArgObject {
 public:
  // `keys`: the accepted keys, separated by spaces. Throws a TypeError unless `v` is an object
  // whose own enumerable keys are all accepted; `what` names the call ("op 'conv2d'").
  ArgObject(const Napi::Value& v, std::string what, const char* keys, std::string path = "");

  Napi::Env env() const { return o_.Env(); }
  const std::vector<std::string>& keys() const { return keys_; }
  // The value of a declared key (undefined when absent); reading an undeclared key is a bug.
  Napi::Value get(const char* key) const;
  // Present and neither undefined nor null.
  bool has(const char* key) const;
  // `key` with the path of this object, for messages.
  std::string name(const char* key) const { return path_ + key; }
  // A nested arguments object with its own accepted keys.
  ArgObject object(const char* key, const char* keys) const;

  double number(const char* key) const { return to_number(get(key), name(key)); }
  double number(const char* key, double def) const;
  int64_t integer(const char* key) const { return to_int(get(key), name(key)); }
  int64_t integer(const char* key, int64_t def) const;
  bool boolean(const char* key, bool def) const;
  std::string string(const char* key, const std::string& def) const;
  std::vector<int32_t> ints(const char* key) const { return to_int_array(get(key), name(key)); }
  std::vector<float> floats(const char* key) const { return to_float_array(get(key), name(key)); }

 private:
  Napi::Object o_;
  std::string what_;
  std::vector<std::string> keys_;
  std::string path_;
};

}  // namespace binding
}  // namespace indetail
