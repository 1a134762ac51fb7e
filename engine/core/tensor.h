// A Tensor is a typed, shaped view of a Storage on one device.
//
// Layout convention (the whole engine): contiguous, row-major, and images / feature maps are
// NHWC — [frames, height, width, channels]. Sequences are [frames, tokens, channels], so a
// feature map reshaped to [N, H*W, C] is the token sequence of the transformer blocks without
// a copy. Weights keep their checkpoint names but not always their layout: see engine/models.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dtype.h"

namespace indetail {

enum class Device : uint8_t { CPU, CUDA };
const char* device_name(Device d);

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 64, 64, 320]"
int64_t shape_numel(const Shape& s);

// Owns (or keeps alive) a block of memory. The deleter returns it to whoever handed it out:
// free(), an allocator's cache, or the mmap of a safetensors file.
class Storage {
 public:
  Storage(void* data, size_t bytes, Device device, std::function<void(void*)> deleter)
      : data_(data), bytes_(bytes), device_(device), deleter_(std::move(deleter)) {}
  ~Storage() {
    if (deleter_) deleter_(data_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_;
  size_t bytes_;
  Device device_;
  std::function<void(void*)> deleter_;
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, size_t byte_offset, DType dtype, Shape shape);

  // A new zero-initialised host tensor (64-byte aligned).
  static Tensor host(DType dtype, const Shape& shape);
  // The same without zeroing, for buffers about to be overwritten completely.
  static Tensor host_uninitialized(DType dtype, const Shape& shape);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::CPU; }
  const Shape& shape() const { return shape_; }
  int dim() const { return (int)shape_.size(); }
  int64_t size(int d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return (size_t)numel() * dtype_size(dtype_); }

  // Backend-private layout tag for prepared weights (0 = the plain row-major layout above).
  uint32_t layout() const { return layout_; }
  Tensor with_layout(uint32_t layout) const;

  void* raw() const { return static_cast<char*>(storage_->data()) + offset_; }
  template <typename T>
  T* data() const { return static_cast<T*>(raw()); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Same data, new shape (numel must match; -1 infers one dimension).
  Tensor reshape(Shape shape) const;
  // Frames [start, start + count) along dimension 0, sharing storage.
  Tensor slice0(int64_t start, int64_t count) const;

  std::string describe() const;  // "F32[2, 4, 16, 16] on cpu"

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  DType dtype_ = DType::F32;
  Shape shape_;
  uint32_t layout_ = 0;
};

// Host memory for tensors: 64-byte aligned. Blocks of 16 KiB and more are mappings of their own,
// so freeing them returns the memory at once (glibc would keep them in the arena of the thread
// that allocated them, and raise its mmap threshold after freeing a large block: repeated model
// loads on worker threads then grow the process); blocks of 4 MiB and more are 2 MiB aligned and
// marked for transparent huge pages (page faults on 4 KiB pages dominate first-touch cost). Free
// with free_host_bytes and the same byte count.
void* alloc_host_bytes(size_t bytes);
void free_host_bytes(void* p, size_t bytes);

// Converts a host tensor of any float dtype (or integer) to a new host F32 tensor.
Tensor to_f32_host(const Tensor& t);
// Converts a host F32 tensor to F16 or BF16 (round to nearest even).
Tensor convert_host(const Tensor& t, DType to);

}  // namespace indetail
