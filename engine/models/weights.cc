#include "weights.h"

#include <cmath>
#include <cstring>

#include "../core/error.h"

namespace indetail {

void WeightSource::add_file(std::shared_ptr<SafetensorsFile> file, const std::string& prefix) {
  files_.push_back({std::move(file), prefix});
}

void WeightSource::map_name(const std::string& name, const std::string& key) { aliases_[name] = key; }

bool WeightSource::find(const std::string& name, Found* out) const {
  auto alias = aliases_.find(name);
  for (const auto& f : files_) {
    std::string key = alias != aliases_.end() ? alias->second : f.prefix + name;
    if (f.file->find(key)) {
      out->file = f.file.get();
      out->key = key;
      return true;
    }
  }
  return false;
}

std::shared_ptr<WeightSource> WeightSource::random(uint64_t seed) {
  auto s = std::make_shared<WeightSource>();
  s->random_ = true;
  s->seed_ = seed;
  return s;
}

Tensor WeightSource::random_tensor(const std::string& name, const Shape& shape) const {
  check_arg(!shape.empty(), "random weights: the model must state the shape of '", name, "'");
  uint64_t h = 1469598103934665603ull ^ seed_;  // FNV-1a of the name, mixed with the seed
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  uint64_t state = h ? h : 1;
  auto next = [&state]() {  // xorshift64*
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (state * 2685821657736338717ull) >> 11;
  };
  auto uniform = [&]() { return ((double)next() + 0.5) / 9007199254740992.0; };
  bool is_vector = shape.size() == 1;
  bool norm_scale = is_vector && name.find("norm") != std::string::npos && name.size() > 7 &&
                    name.compare(name.size() - 7, 7, ".weight") == 0;
  double fan_in = shape.size() > 1 ? (double)(shape_numel(shape) / shape[0]) : 1.0;
  double mean = norm_scale ? 1.0 : 0.0;
  double stddev = norm_scale ? 0.1 : is_vector ? 0.02 : 1.0 / std::sqrt(fan_in);
  Tensor t = Tensor::host_uninitialized(DType::F32, shape);
  float* d = t.data<float>();
  int64_t n = t.numel();
  for (int64_t i = 0; i < n; i += 2) {  // Box-Muller pairs
    double r = std::sqrt(-2.0 * std::log(uniform()));
    double th = 6.283185307179586 * uniform();
    d[i] = (float)(mean + stddev * r * std::cos(th));
    if (i + 1 < n) d[i + 1] = (float)(mean + stddev * r * std::sin(th));
  }
  return t;
}

bool WeightSource::has(const std::string& name) const {
  if (random_) return true;
  Found f;
  return find(name, &f);
}

std::string WeightSource::describe_files() const {
  if (random_) return "(random weights, seed " + std::to_string(seed_) + ")";
  std::string s;
  for (const auto& f : files_) s += (s.empty() ? "" : ", ") + f.file->path();
  return s.empty() ? "(no files)" : s;
}

Shape WeightSource::shape(const std::string& name) const {
  if (random_) return {};
  Found f;
  if (!find(name, &f)) fail(ErrorKind::BadFile, "weight '", name, "' is missing from ", describe_files());
  return f.file->entry(f.key).shape;
}

Tensor WeightSource::host_f32(const std::string& name, const Shape& expect) const {
  if (random_) return random_tensor(name, expect);
  Found f;
  if (!find(name, &f)) fail(ErrorKind::BadFile, "weight '", name, "' is missing from ", describe_files());
  const SafetensorsEntry& e = f.file->entry(f.key);
  if (!expect.empty() && e.shape != expect) {
    fail(ErrorKind::BadFile, f.file->path(), ": weight '", f.key, "' has shape ", shape_str(e.shape), " but the model config implies ",
         shape_str(expect), " (is this checkpoint for a different model or config?)");
  }
  if (!e.dtype_supported || !is_float(e.dtype))
    fail(ErrorKind::BadFile, f.file->path(), ": weight '", f.key, "' has dtype ", e.dtype_name, ", expected F32, F16 or BF16");
  return f.file->tensor_f32(f.key);
}

std::vector<std::string> WeightSource::names() const {
  std::set<std::string> out;
  for (const auto& f : files_)
    for (const auto& e : f.file->entries())
      if (e.name.rfind(f.prefix, 0) == 0) out.insert(e.name.substr(f.prefix.size()));
  for (const auto& kv : aliases_) out.insert(kv.first);
  return {out.begin(), out.end()};
}

WeightLoader::WeightLoader(const WeightSource& source, Backend& backend, std::string what)
    : source_(source), backend_(backend), what_(std::move(what)) {}

Tensor WeightLoader::linear(const std::string& name, int64_t n, int64_t k) {
  used_.insert(name);
  Shape s = source_.shape(name);
  Tensor w = source_.host_f32(name, s.size() == 4 ? Shape{n, k, 1, 1} : Shape{n, k});
  return backend_.prepare_weight(w.reshape({n, k}), WeightUse::Linear);
}

Tensor WeightLoader::conv(const std::string& name, int64_t cout, int64_t cin, int64_t kh, int64_t kw) {
  used_.insert(name);
  Tensor w = source_.host_f32(name, {cout, cin, kh, kw});
  Tensor ohwi = Tensor::host_uninitialized(DType::F32, {cout, kh, kw, cin});
  const float* s = w.data<float>();
  float* d = ohwi.data<float>();
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t i = 0; i < cin; ++i)
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t x = 0; x < kw; ++x) d[((o * kh + y) * kw + x) * cin + i] = s[((o * cin + i) * kh + y) * kw + x];
  return backend_.prepare_weight(ohwi, WeightUse::Conv);
}

Tensor WeightLoader::vector(const std::string& name, int64_t n) {
  used_.insert(name);
  return backend_.prepare_weight(source_.host_f32(name, {n}), WeightUse::Vector);
}

Tensor WeightLoader::table(const std::string& name, int64_t v, int64_t c) {
  used_.insert(name);
  return backend_.prepare_weight(source_.host_f32(name, {v, c}), WeightUse::Table);
}

std::vector<std::string> WeightLoader::unused() const {
  std::vector<std::string> out;
  for (const auto& n : source_.names())
    if (!used_.count(n)) out.push_back(n);
  return out;
}

}  // namespace indetail
