// Named weights for a model graph. A WeightSource finds tensors by their model-local (diffusers)
// name in one or more safetensors files, through an optional prefix and name map (single-file
// LDM checkpoints are mapped to diffusers names in TypeScript). A WeightLoader checks each tensor
// against the shape the config implies and prepares it for one backend.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../backend.h"
#include "../core/safetensors.h"

namespace indetail {

class WeightSource {
 public:
  // Tensors of `file` are visible under their key with `prefix` removed (keys without the prefix
  // are not visible). Files added later do not shadow earlier ones.
  void add_file(std::shared_ptr<SafetensorsFile> file, const std::string& prefix = "");
  // An explicit alias: model name -> the exact key in a file (prefix included).
  void map_name(const std::string& name, const std::string& key);
  // A view of a stored tensor under a model name: rows [row_begin, row_begin + rows) of its first
  // dimension (rows < 0: all of them), then transposed when asked (2-D only). For checkpoints
  // that pack several model tensors into one (OpenCLIP's in_proj_weight = [q; k; v]) or store
  // one transposed (OpenCLIP's text_projection).
  struct View {
    std::string key;
    int64_t row_begin = 0;
    int64_t rows = -1;
    bool transpose = false;
  };
  void map_view(const std::string& name, View view);

  // A synthetic source: every requested name exists and gets seeded random values of the shape
  // the model asks for (uniform, with std 1/sqrt(fan_in) for matrices, ~1 for norm scales, small
  // biases), for full-size benchmarks and memory tests without checkpoint files.
  static std::shared_ptr<WeightSource> random(uint64_t seed);
  bool is_random() const { return random_; }

  bool has(const std::string& name) const;
  // The tensor as stored (host F32, F16 or BF16; a view of the file when aligned and not a
  // View), checked against `expect` (empty = any shape) and scanned for NaN and infinite values
  // in its stored dtype. Errors name the model tensor, the file key and the file.
  Tensor host(const std::string& name, const Shape& expect) const;
  // The same, widened to host F32.
  Tensor host_f32(const std::string& name, const Shape& expect) const;
  // The tensor's file pages are no longer needed by this process (it was converted).
  void release(const std::string& name) const;
  Shape shape(const std::string& name) const;  // throws when absent; {} for a random source
  std::string describe_files() const;          // for messages: "a.safetensors, b.safetensors"
  std::vector<std::string> names() const;      // every visible model name

 private:
  struct Found {
    const SafetensorsFile* file;
    View view;
  };
  // The view's shape given the stored shape; throws naming both when the view does not fit.
  Shape view_shape(const Found& f) const;
  // Whether `f` reads less than, or other than, the whole stored tensor as it is stored.
  bool is_part(const Found& f) const;
  bool find(const std::string& name, Found* out) const;
  // Index `i` of the view (of shape `view`) read through `f`, as an index of the stored tensor.
  int64_t stored_index(const Found& f, const Shape& view, int64_t i) const;
  // The stored tensor of `f` in its stored dtype, cut and transposed when it is a view of one.
  Tensor read_stored(const Found& f, const std::string& name, const Shape& expect) const;
  struct FileEntry {
    std::shared_ptr<SafetensorsFile> file;
    std::string prefix;
  };
  Tensor random_tensor(const std::string& name, const Shape& shape) const;
  std::vector<FileEntry> files_;
  bool random_ = false;
  uint64_t seed_ = 0;
  std::map<std::string, View> aliases_;
};

// Prepares the weights of one model for a backend. Each weight is read from the source in its
// stored dtype, prepared (the backend converts and packs it: the only copy that stays), and its
// file pages are released, so loading never holds a weight twice.
class WeightLoader {
 public:
  // `what` names the model in messages ("UNet", "VAE", ...).
  WeightLoader(const WeightSource& source, Backend& backend, std::string what);

  // [n, k] for x·wᵀ. Also accepts [n, k, 1, 1] (a 1×1 convolution used as a projection).
  Tensor linear(const std::string& name, int64_t n, int64_t k);
  // A convolution stored OIHW [cout, cin, kh, kw] in the checkpoint, prepared as OHWI (the
  // transpose is done in the stored dtype).
  Tensor conv(const std::string& name, int64_t cout, int64_t cin, int64_t kh, int64_t kw);
  // A 1-D parameter (bias, norm scale/shift) of length n.
  Tensor vector(const std::string& name, int64_t n);
  // An embedding table [v, c].
  Tensor table(const std::string& name, int64_t v, int64_t c);
  // A tensor kept on the host as F32 with exactly `shape` (parameters the model combines or
  // resamples itself before use, e.g. a ViT's class token and position embeddings).
  Tensor host(const std::string& name, const Shape& shape);
  bool has(const std::string& name) const { return source_.has(name); }

  // Names in the source that no loader call asked for (a sign of a config/checkpoint mismatch).
  std::vector<std::string> unused() const;
  const std::string& what() const { return what_; }

 private:
  Tensor prepare(const std::string& name, const Tensor& host, WeightUse use);

  const WeightSource& source_;
  Backend& backend_;
  std::string what_;
  std::set<std::string> used_;
};

}  // namespace indetail
