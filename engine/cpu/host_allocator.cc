#include "host_allocator.h"

#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "../core/error.h"

namespace indetail {

namespace {
// 64-byte granularity below 64 KiB.
size_t size_class(size_t bytes) { return block_size_class(bytes, 64, 65536); }
}  // namespace

Tensor HostAllocator::allocate(DType dtype, const Shape& shape) {
  size_t bytes = (size_t)shape_numel(shape) * dtype_size(dtype);
  size_t cls = size_class(bytes ? bytes : 1);
  void* p = nullptr;
  {
    // A cached block up to 1/4 larger serves too: the classes of a step's tensors vary (batch,
    // resolution, bf16 copies), and exact-class reuse alone leaves blocks stranded in the cache.
    std::lock_guard<std::mutex> lk(m_);
    size_t got = cls;
    p = cache_.take_fit(cls, cls + cls / 4, &got);
    cls = got;
    cache_.acquired(cls);
  }
  if (!p) {
    p = alloc_host_bytes(cls);
    if (!p) {
      std::lock_guard<std::mutex> lk(m_);
      cache_.released(cls);
      fail(ErrorKind::Io, "out of host memory allocating ", bytes, " bytes for ", dtype_name(dtype), shape_str(shape));
    }
  }
  std::weak_ptr<HostAllocator> self = shared_from_this();
  auto storage = std::make_shared<Storage>(p, cls, Device::CPU, [self, cls](void* q) {
    if (auto a = self.lock()) a->give_back(q, cls);
    else free_host_bytes(q, cls);
  });
  return Tensor(storage, 0, dtype, shape);
}

void HostAllocator::give_back(void* p, size_t bytes) {
  std::lock_guard<std::mutex> lk(m_);
  cache_.released(bytes);
  cache_.put(p, bytes);
}

void HostAllocator::release_cache() {
  std::lock_guard<std::mutex> lk(m_);
  cache_.clear([](void* p, size_t cls) { free_host_bytes(p, cls); });
}

uint64_t HostAllocator::in_use() const { std::lock_guard<std::mutex> lk(m_); return cache_.in_use; }
uint64_t HostAllocator::peak() const { std::lock_guard<std::mutex> lk(m_); return cache_.peak; }
uint64_t HostAllocator::cached() const { std::lock_guard<std::mutex> lk(m_); return cache_.cached; }

HostAllocator::~HostAllocator() {
  release_cache();
  // The allocator goes with the last engine tensor, after the weights: give the freed memory
  // back to the system. glibc keeps freed blocks below its (growing) mmap threshold in its arenas,
  // so without this a process that loads and disposes pipelines keeps growing.
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace indetail
