// Caching device allocator: blocks are cudaMalloc'ed once and reused by size class, so the
// denoising loop makes no cudaMalloc/cudaFree calls after the first step (the activation arena).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "../engine/core/tensor.h"

namespace indetail {

class DeviceAllocator : public std::enable_shared_from_this<DeviceAllocator> {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}
  ~DeviceAllocator();
  Tensor allocate(DType dtype, const Shape& shape);
  void release_cache();
  uint64_t in_use() const;
  uint64_t peak() const;
  uint64_t cached() const;

 private:
  static size_t size_class(size_t bytes);
  void give_back(void* p, size_t bytes);

  int device_;
  mutable std::mutex m_;
  std::multimap<size_t, void*> free_;
  uint64_t in_use_ = 0, peak_ = 0, cached_ = 0;
};

}  // namespace indetail
