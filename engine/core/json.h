// A strict JSON reader (RFC 8259) for safetensors headers and model configs: validates UTF-8,
// rejects trailing garbage, limits nesting depth, keeps integers exact (int64).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace indetail {
namespace json {

enum class Type { Null, Bool, Int, Float, String, Array, Object };

class Value {
 public:
  Value() = default;
  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_int() const { return type_ == Type::Int; }
  bool is_number() const { return type_ == Type::Int || type_ == Type::Float; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }
  double as_number() const { return type_ == Type::Int ? (double)i_ : d_; }
  const std::string& as_string() const { return s_; }
  const std::vector<Value>& items() const { return arr_; }
  // Object members in file order (duplicates kept; find() returns the first).
  const std::vector<std::pair<std::string, Value>>& members() const { return obj_; }
  const Value* find(const std::string& key) const;

  static Value make_null() { return Value(); }
  static Value make_bool(bool b);
  static Value make_int(int64_t i);
  static Value make_float(double d);
  static Value make_string(std::string s);
  static Value make_array(std::vector<Value> a);
  static Value make_object(std::vector<std::pair<std::string, Value>> o);

 private:
  Type type_ = Type::Null;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::vector<Value> arr_;
  std::vector<std::pair<std::string, Value>> obj_;
};

// Throws std::runtime_error-free: returns false and sets *error ("invalid UTF-8 at byte 17").
bool parse(const char* text, size_t length, Value* out, std::string* error, int max_depth = 64);

const char* type_name(Type t);

}  // namespace json
}  // namespace indetail
