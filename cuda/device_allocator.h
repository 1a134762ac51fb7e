// Caching device allocator: blocks are cudaMalloc'ed once and reused by size class, so the
// denoising loop makes no cudaMalloc/cudaFree calls after the first step (the activation arena).
//
// Graph-private pools: while a thread records a CUDA graph (begin_pool .. end_pool), its
// allocations come from that graph's pool (its free blocks, else blocks moved out of the shared
// cache, else cudaMalloc) and go back to the pool when freed, so blocks are reused within the
// graph (one stream, stream order) but never handed to other work while the graph can replay.
// When the pool is destroyed (with its graph) its free blocks return to the shared cache; a
// block still live then goes to the shared cache when it is freed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "../engine/core/block_cache.h"
#include "../engine/core/tensor.h"

namespace indetail {

class DeviceAllocator;

class DevicePool {
 public:
  ~DevicePool();
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;
  // Bytes of every block the pool owns (live or free).
  uint64_t reserved() const;

 private:
  friend class DeviceAllocator;
  explicit DevicePool(std::weak_ptr<DeviceAllocator> owner) : owner_(std::move(owner)) {}
  std::weak_ptr<DeviceAllocator> owner_;
  mutable std::mutex m_;
  std::multimap<size_t, void*> free_;
  uint64_t reserved_ = 0;
};

class DeviceAllocator : public std::enable_shared_from_this<DeviceAllocator> {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}
  ~DeviceAllocator();
  Tensor allocate(DType dtype, const Shape& shape);
  void release_cache();
  uint64_t in_use() const;
  uint64_t peak() const;
  uint64_t cached() const;

  // From now on the calling thread's allocations come from a new pool (one pool at a time).
  std::shared_ptr<DevicePool> begin_pool();
  // The calling thread allocates from the shared cache again.
  void end_pool();

 private:
  friend class DevicePool;
  void give_back(void* p, size_t bytes);
  void give_back_to_pool(DevicePool& pool, void* p, size_t bytes);
  void take_blocks(std::multimap<size_t, void*>& blocks);  // a dying pool's free blocks

  int device_;
  mutable std::mutex m_;
  BlockCache cache_;  // the shared cache
  std::shared_ptr<DevicePool> pool_;  // the recording pool, used by pool_thread_ only
  std::thread::id pool_thread_;
};

}  // namespace indetail
