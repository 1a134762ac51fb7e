// Reads .safetensors files: memory-maps the file, validates the whole header before any tensor
// data is touched, and hands out tensors as zero-copy views of the mapping (or widened copies).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensor.h"

namespace indetail {

struct SafetensorsEntry {
  std::string name;
  std::string dtype_name;  // as written in the file ("F16", "F64", ...)
  bool dtype_supported;    // whether the engine can hand it out (DType exists)
  DType dtype;             // valid when dtype_supported
  Shape shape;
  uint64_t begin, end;     // byte offsets inside the data section
};

class SafetensorsFile {
 public:
  // Largest header we accept; the safetensors format's own reference reader uses the same bound.
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

  // Opens and validates. Throws Error(Io) for a missing/unreadable file and Error(BadFile)
  // naming the file, the tensor and the problem for anything malformed.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  uint64_t file_bytes() const { return file_bytes_; }
  uint64_t header_bytes() const { return header_bytes_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // sorted by name
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const SafetensorsEntry* find(const std::string& name) const;
  const SafetensorsEntry& entry(const std::string& name) const;  // throws naming the file

  // The tensor as stored (a view into the mapping; keeps the file mapped while alive).
  Tensor tensor(const std::string& name) const;
  // The tensor converted to host F32 (a view when already F32, else a widened copy).
  Tensor tensor_f32(const std::string& name) const;
  // A float tensor (F32, F16 or BF16) as stored: a view when its data is aligned to its element
  // size, else an aligned copy.
  Tensor tensor_float(const std::string& name) const;
  // Drops the mapped pages under the tensor's bytes from this process (they stay in the page
  // cache): once a weight is converted, its file data no longer counts towards the resident set.
  // Views stay valid (a later read maps the pages again).
  void release_pages(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  uint64_t file_bytes_ = 0;
  uint64_t header_bytes_ = 0;
  const uint8_t* map_ = nullptr;
  std::shared_ptr<Storage> data_;  // the data section, shared by every tensor view
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace indetail
