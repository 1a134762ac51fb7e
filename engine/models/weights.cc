#include "weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/error.h"
#include "../core/finite.h"
#include "../core/threadpool.h"

namespace indetail {

void WeightSource::add_file(std::shared_ptr<SafetensorsFile> file, const std::string& prefix) {
  files_.push_back({std::move(file), prefix});
}

void WeightSource::map_name(const std::string& name, const std::string& key) { aliases_[name] = View{key}; }

void WeightSource::map_view(const std::string& name, View view) { aliases_[name] = std::move(view); }

bool WeightSource::find(const std::string& name, Found* out) const {
  auto alias = aliases_.find(name);
  for (const auto& f : files_) {
    View view = alias != aliases_.end() ? alias->second : View{f.prefix + name};
    if (f.file->find(view.key)) {
      out->file = f.file.get();
      out->view = std::move(view);
      return true;
    }
  }
  return false;
}

bool WeightSource::is_part(const Found& f) const {
  return f.view.transpose || view_shape(f) != f.file->entry(f.view.key).shape;
}

Shape WeightSource::view_shape(const Found& f) const {
  const View& v = f.view;
  Shape s = f.file->entry(v.key).shape;
  if (v.rows >= 0 || v.row_begin != 0) {
    if (s.empty() || v.row_begin < 0 || v.rows < 0 || v.row_begin + v.rows > s[0])
      fail(ErrorKind::BadFile, f.file->path(), ": rows [", v.row_begin, ", ", v.row_begin + v.rows, ") of weight '", v.key, "' ",
           shape_str(s), " do not exist");
    s[0] = v.rows;
  }
  if (v.transpose) {
    if (s.size() != 2)
      fail(ErrorKind::BadFile, f.file->path(), ": weight '", v.key, "' ", shape_str(s), " is not a matrix and cannot be transposed");
    std::swap(s[0], s[1]);
  }
  return s;
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
  bool is_vector = shape.size() == 1;
  bool norm_scale = is_vector && name.find("norm") != std::string::npos && name.size() > 7 &&
                    name.compare(name.size() - 7, 7, ".weight") == 0;
  double fan_in = shape.size() > 1 ? (double)(shape_numel(shape) / shape[0]) : 1.0;
  double mean = norm_scale ? 1.0 : 0.0;
  double stddev = norm_scale ? 0.1 : is_vector ? 0.02 : 1.0 / std::sqrt(fan_in);
  // Uniform values with the intended mean and standard deviation (half-width sqrt(3)·σ): the
  // statistics that matter for benchmarks, at a fraction of the cost of Gaussian draws.
  float half_width = (float)(std::sqrt(3.0) * stddev);
  float centre = (float)mean;
  Tensor t = Tensor::host_uninitialized(DType::F32, shape);
  float* d = t.data<float>();
  constexpr int64_t kChunk = 1 << 16;  // each chunk has its own stream: the result does not depend on threads
  int64_t n = t.numel();
  parallel_for((n + kChunk - 1) / kChunk, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      uint64_t state = (h + 0x9e3779b97f4a7c15ull * (uint64_t)(c + 1)) | 1;
      int64_t end = std::min(n, (c + 1) * kChunk);
      for (int64_t i = c * kChunk; i < end; ++i) {
        state ^= state >> 12;  // xorshift64*
        state ^= state << 25;
        state ^= state >> 27;
        uint32_t bits = (uint32_t)((state * 2685821657736338717ull) >> 40);  // 24 random bits
        d[i] = centre + half_width * ((float)bits * (2.0f / 16777216.0f) - 1.0f);
      }
    }
  });
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
  return view_shape(f);
}

Tensor WeightSource::host(const std::string& name, const Shape& expect) const {
  if (random_) return random_tensor(name, expect);  // finite by construction
  Found f;
  if (!find(name, &f)) fail(ErrorKind::BadFile, "weight '", name, "' is missing from ", describe_files());
  Tensor t = read_stored(f, name, expect);
  // Every weight is scanned once here, in its stored dtype (memory-bound, threaded): NaN/Inf
  // weights would only show as black images much later.
  const int64_t bad = first_non_finite(t);
  if (bad >= 0) {
    fail(ErrorKind::BadFile, f.file->path(), ": weight '", f.view.key, "' holds ", host_value_f32(t, bad), " at index ",
         stored_index(f, t.shape(), bad), is_part(f) ? " (in the part read as '" + name + "')" : "",
         " (NaN or infinite values): the checkpoint is corrupt, or was saved after its values overflowed");
  }
  return t;
}

int64_t WeightSource::stored_index(const Found& f, const Shape& view, int64_t i) const {
  const View& v = f.view;
  if (v.transpose) {  // view [c, r] of the cut [r, c]
    const int64_t r = view[1], c = view[0];
    i = (i % r) * c + i / r;
  }
  const Shape& stored = f.file->entry(v.key).shape;
  const int64_t row = stored.empty() || stored[0] == 0 ? 0 : shape_numel(stored) / stored[0];
  return i + v.row_begin * row;
}

Tensor WeightSource::host_f32(const std::string& name, const Shape& expect) const {
  Tensor t = host(name, expect);
  return t.dtype() == DType::F32 ? t : to_f32_host(t);
}

void WeightSource::release(const std::string& name) const {
  Found f;
  if (!random_ && find(name, &f)) f.file->release_pages(f.view.key);
}

namespace {

// [r, c] -> [c, r] for elements of type T.
template <typename T>
void transpose_matrix(const T* src, T* dst, int64_t r, int64_t c) {
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) dst[j * r + i] = src[i * c + j];
}

}  // namespace

Tensor WeightSource::read_stored(const Found& f, const std::string& name, const Shape& expect) const {
  const View& v = f.view;
  const SafetensorsEntry& e = f.file->entry(v.key);
  const Shape shape = view_shape(f);
  const bool is_view = is_part(f);
  if (!expect.empty() && shape != expect) {
    fail(ErrorKind::BadFile, f.file->path(), ": weight '", v.key, "'", is_view ? " (the part read as '" + name + "')" : "",
         " has shape ", shape_str(shape), " but the model config implies ", shape_str(expect),
         " (is this checkpoint for a different model or config?)");
  }
  if (!e.dtype_supported || !is_float(e.dtype))
    fail(ErrorKind::BadFile, f.file->path(), ": weight '", v.key, "' has dtype ", e.dtype_name, ", expected F32, F16 or BF16");
  Tensor t = f.file->tensor_float(v.key);
  if (!is_view) return t;
  // A view is cut (and transposed) in the stored dtype: only the view is copied, never widened.
  if (v.rows >= 0) t = t.slice0(v.row_begin, v.rows);
  Tensor out = Tensor::host_uninitialized(t.dtype(), shape);
  if (!v.transpose) {
    std::memcpy(out.raw(), t.raw(), out.nbytes());
  } else if (dtype_size(t.dtype()) == 4) {
    transpose_matrix(t.data<uint32_t>(), out.data<uint32_t>(), t.size(0), t.size(1));
  } else {
    transpose_matrix(t.data<uint16_t>(), out.data<uint16_t>(), t.size(0), t.size(1));
  }
  return out;
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

Tensor WeightLoader::prepare(const std::string& name, const Tensor& host, WeightUse use) {
  Tensor w = backend_.prepare_weight(host, use);
  source_.release(name);
  return w;
}

Tensor WeightLoader::linear(const std::string& name, int64_t n, int64_t k) {
  used_.insert(name);
  Shape s = source_.shape(name);
  Tensor w = source_.host(name, s.size() == 4 ? Shape{n, k, 1, 1} : Shape{n, k});
  return prepare(name, w.reshape({n, k}), WeightUse::Linear);
}

namespace {

// OIHW [o, i, kh, kw] -> OHWI [o, kh, kw, i] for elements of type T.
template <typename T>
void oihw_to_ohwi(const T* s, T* d, int64_t cout, int64_t cin, int64_t kh, int64_t kw) {
  parallel_for(cout, 1, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t i = 0; i < cin; ++i)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x) d[((o * kh + y) * kw + x) * cin + i] = s[((o * cin + i) * kh + y) * kw + x];
  });
}

}  // namespace

Tensor WeightLoader::conv(const std::string& name, int64_t cout, int64_t cin, int64_t kh, int64_t kw) {
  used_.insert(name);
  Tensor w = source_.host(name, {cout, cin, kh, kw});
  Tensor ohwi = Tensor::host_uninitialized(w.dtype(), {cout, kh, kw, cin});
  if (dtype_size(w.dtype()) == 4)
    oihw_to_ohwi(w.data<uint32_t>(), ohwi.data<uint32_t>(), cout, cin, kh, kw);
  else
    oihw_to_ohwi(w.data<uint16_t>(), ohwi.data<uint16_t>(), cout, cin, kh, kw);
  return prepare(name, ohwi, WeightUse::Conv);
}

Tensor WeightLoader::vector(const std::string& name, int64_t n) {
  used_.insert(name);
  return prepare(name, source_.host(name, {n}), WeightUse::Vector);
}

Tensor WeightLoader::table(const std::string& name, int64_t v, int64_t c) {
  used_.insert(name);
  return prepare(name, source_.host(name, {v, c}), WeightUse::Table);
}

Tensor WeightLoader::host(const std::string& name, const Shape& shape) {
  used_.insert(name);
  return source_.host_f32(name, shape);
}

std::vector<std::string> WeightLoader::unused() const {
  std::vector<std::string> out;
  for (const auto& n : source_.names())
    if (!used_.count(n)) out.push_back(n);
  return out;
}

}  // namespace indetail
