// A caching allocator for host activations: freed blocks are kept by size class and reused (a
// block of up to 1/4 more than asked for serves too), so a denoising step does not pay for fresh
// pages (and page faults) for every intermediate. release_cache() hands the free blocks back.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "../core/block_cache.h"
#include "../core/tensor.h"

namespace indetail {

class HostAllocator : public std::enable_shared_from_this<HostAllocator> {
 public:
  // Zero-initialisation is not done: contents are undefined.
  Tensor allocate(DType dtype, const Shape& shape);
  void release_cache();  // returns every cached block to the system

  uint64_t in_use() const;
  uint64_t peak() const;
  uint64_t cached() const;
  ~HostAllocator();

 private:
  void give_back(void* p, size_t bytes);

  mutable std::mutex m_;
  BlockCache cache_;
};

}  // namespace indetail
