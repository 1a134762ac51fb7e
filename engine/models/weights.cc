#include "weights.h"

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

bool WeightSource::has(const std::string& name) const {
  Found f;
  return find(name, &f);
}

std::string WeightSource::describe_files() const {
  std::string s;
  for (const auto& f : files_) s += (s.empty() ? "" : ", ") + f.file->path();
  return s.empty() ? "(no files)" : s;
}

Shape WeightSource::shape(const std::string& name) const {
  Found f;
  if (!find(name, &f)) fail(ErrorKind::BadFile, "weight '", name, "' is missing from ", describe_files());
  return f.file->entry(f.key).shape;
}

Tensor WeightSource::host_f32(const std::string& name, const Shape& expect) const {
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
