#include "json.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace indetail {
namespace json {

Value Value::make_bool(bool b) { Value v; v.type_ = Type::Bool; v.b_ = b; return v; }
Value Value::make_int(int64_t i) { Value v; v.type_ = Type::Int; v.i_ = i; return v; }
Value Value::make_float(double d) { Value v; v.type_ = Type::Float; v.d_ = d; return v; }
Value Value::make_string(std::string s) { Value v; v.type_ = Type::String; v.s_ = std::move(s); return v; }
Value Value::make_array(std::vector<Value> a) { Value v; v.type_ = Type::Array; v.arr_ = std::move(a); return v; }
Value Value::make_object(std::vector<std::pair<std::string, Value>> o) {
  Value v;
  v.type_ = Type::Object;
  v.obj_ = std::move(o);
  return v;
}

const Value* Value::find(const std::string& key) const {
  for (const auto& kv : obj_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "boolean";
    case Type::Int: return "integer";
    case Type::Float: return "number";
    case Type::String: return "string";
    case Type::Array: return "array";
    case Type::Object: return "object";
  }
  return "?";
}

namespace {

class Parser {
 public:
  Parser(const char* s, size_t n, int max_depth) : s_(s), n_(n), max_depth_(max_depth) {}

  bool run(Value* out, std::string* error) {
    skip_ws();
    if (!value(out, 0)) {
      *error = err_;
      return false;
    }
    skip_ws();
    if (p_ != n_) {
      *error = "unexpected data after the JSON value at byte " + std::to_string(p_);
      return false;
    }
    return true;
  }

 private:
  const char* s_;
  size_t n_;
  size_t p_ = 0;
  int max_depth_;
  std::string err_;

  bool bad(const std::string& what) {
    if (err_.empty()) err_ = what + " at byte " + std::to_string(p_);
    return false;
  }
  void skip_ws() {
    while (p_ < n_ && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
  }
  bool literal(const char* word) {
    size_t len = std::strlen(word);
    if (n_ - p_ < len || std::memcmp(s_ + p_, word, len) != 0) return bad("invalid literal");
    p_ += len;
    return true;
  }

  bool value(Value* out, int depth) {
    if (depth > max_depth_) return bad("JSON nested deeper than " + std::to_string(max_depth_));
    if (p_ >= n_) return bad("unexpected end of JSON");
    char c = s_[p_];
    switch (c) {
      case '{': return object(out, depth);
      case '[': return array(out, depth);
      case '"': {
        std::string str;
        if (!string(&str)) return false;
        *out = Value::make_string(std::move(str));
        return true;
      }
      case 't': if (!literal("true")) return false; *out = Value::make_bool(true); return true;
      case 'f': if (!literal("false")) return false; *out = Value::make_bool(false); return true;
      case 'n': if (!literal("null")) return false; *out = Value::make_null(); return true;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return number(out);
        return bad("unexpected character");
    }
  }

  bool object(Value* out, int depth) {
    ++p_;
    std::vector<std::pair<std::string, Value>> members;
    skip_ws();
    if (p_ < n_ && s_[p_] == '}') {
      ++p_;
      *out = Value::make_object(std::move(members));
      return true;
    }
    while (true) {
      skip_ws();
      if (p_ >= n_ || s_[p_] != '"') return bad("expected a string key");
      std::string key;
      if (!string(&key)) return false;
      skip_ws();
      if (p_ >= n_ || s_[p_] != ':') return bad("expected ':'");
      ++p_;
      skip_ws();
      Value v;
      if (!value(&v, depth + 1)) return false;
      members.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (p_ < n_ && s_[p_] == ',') { ++p_; continue; }
      if (p_ < n_ && s_[p_] == '}') { ++p_; break; }
      return bad("expected ',' or '}'");
    }
    *out = Value::make_object(std::move(members));
    return true;
  }

  bool array(Value* out, int depth) {
    ++p_;
    std::vector<Value> items;
    skip_ws();
    if (p_ < n_ && s_[p_] == ']') {
      ++p_;
      *out = Value::make_array(std::move(items));
      return true;
    }
    while (true) {
      skip_ws();
      Value v;
      if (!value(&v, depth + 1)) return false;
      items.push_back(std::move(v));
      skip_ws();
      if (p_ < n_ && s_[p_] == ',') { ++p_; continue; }
      if (p_ < n_ && s_[p_] == ']') { ++p_; break; }
      return bad("expected ',' or ']'");
    }
    *out = Value::make_array(std::move(items));
    return true;
  }

  bool number(Value* out) {
    size_t start = p_;
    bool is_float = false;
    if (s_[p_] == '-') ++p_;
    if (p_ >= n_) return bad("truncated number");
    if (s_[p_] == '0') {
      ++p_;
    } else if (s_[p_] >= '1' && s_[p_] <= '9') {
      while (p_ < n_ && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    } else {
      return bad("invalid number");
    }
    if (p_ < n_ && s_[p_] == '.') {
      is_float = true;
      ++p_;
      if (p_ >= n_ || !(s_[p_] >= '0' && s_[p_] <= '9')) return bad("invalid number");
      while (p_ < n_ && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    }
    if (p_ < n_ && (s_[p_] == 'e' || s_[p_] == 'E')) {
      is_float = true;
      ++p_;
      if (p_ < n_ && (s_[p_] == '+' || s_[p_] == '-')) ++p_;
      if (p_ >= n_ || !(s_[p_] >= '0' && s_[p_] <= '9')) return bad("invalid number");
      while (p_ < n_ && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    }
    std::string text(s_ + start, p_ - start);
    if (!is_float) {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(text.c_str(), &end, 10);
      if (errno == ERANGE) {
        is_float = true;  // out of int64 range: keep as a (rounded) double
      } else {
        *out = Value::make_int((int64_t)v);
        return true;
      }
    }
    *out = Value::make_float(std::strtod(text.c_str(), nullptr));
    return true;
  }

  static void put_utf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) {
      s->push_back((char)cp);
    } else if (cp < 0x800) {
      s->push_back((char)(0xc0 | (cp >> 6)));
      s->push_back((char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      s->push_back((char)(0xe0 | (cp >> 12)));
      s->push_back((char)(0x80 | ((cp >> 6) & 0x3f)));
      s->push_back((char)(0x80 | (cp & 0x3f)));
    } else {
      s->push_back((char)(0xf0 | (cp >> 18)));
      s->push_back((char)(0x80 | ((cp >> 12) & 0x3f)));
      s->push_back((char)(0x80 | ((cp >> 6) & 0x3f)));
      s->push_back((char)(0x80 | (cp & 0x3f)));
    }
  }

  bool hex4(uint32_t* out) {
    if (n_ - p_ < 4) return bad("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[p_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return bad("invalid \\u escape");
    }
    *out = v;
    return true;
  }

  // One UTF-8 sequence starting at p_; rejects overlongs, surrogates and values past U+10FFFF.
  bool utf8_char(std::string* out) {
    unsigned char c = (unsigned char)s_[p_];
    int len;
    uint32_t cp = 0;
    if (c < 0x80) { out->push_back((char)c); ++p_; return true; }
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
    else return bad("invalid UTF-8");
    if (n_ - p_ < (size_t)len) return bad("truncated UTF-8 sequence");
    for (int i = 1; i < len; ++i) {
      unsigned char cc = (unsigned char)s_[p_ + i];
      if ((cc & 0xc0) != 0x80) return bad("invalid UTF-8");
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return bad("invalid UTF-8");
    out->append(s_ + p_, len);
    p_ += len;
    return true;
  }

  bool string(std::string* out) {
    ++p_;  // opening quote
    while (true) {
      if (p_ >= n_) return bad("unterminated string");
      unsigned char c = (unsigned char)s_[p_];
      if (c == '"') { ++p_; return true; }
      if (c < 0x20) return bad("control character in string");
      if (c != '\\') {
        if (!utf8_char(out)) return false;
        continue;
      }
      ++p_;
      if (p_ >= n_) return bad("unterminated escape");
      char e = s_[p_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(&cp)) return false;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo = 0;
            if (n_ - p_ < 2 || s_[p_] != '\\' || s_[p_ + 1] != 'u') return bad("unpaired surrogate");
            p_ += 2;
            if (!hex4(&lo)) return false;
            if (lo < 0xdc00 || lo > 0xdfff) return bad("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return bad("unpaired surrogate");
          }
          put_utf8(out, cp);
          break;
        }
        default: return bad("invalid escape");
      }
    }
  }
};

}  // namespace

bool parse(const char* text, size_t length, Value* out, std::string* error, int max_depth) {
  Parser p(text, length, max_depth);
  return p.run(out, error);
}

}  // namespace json
}  // namespace indetail
