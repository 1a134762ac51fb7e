#include "host_allocator.h"

#include <cstdlib>

#include "../core/error.h"

namespace indetail {

size_t HostAllocator::size_class(size_t bytes) {
  // 64-byte granularity below 64 KiB, then classes 1/8 of a power of two apart (at most 12.5% waste).
  if (bytes <= 65536) return (bytes + 63) / 64 * 64;
  size_t p = 1;
  while (p < bytes) p <<= 1;
  size_t step = p >> 3;
  return (bytes + step - 1) / step * step;
}

Tensor HostAllocator::allocate(DType dtype, const Shape& shape) {
  size_t bytes = (size_t)shape_numel(shape) * dtype_size(dtype);
  size_t cls = size_class(bytes ? bytes : 1);
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lk(m_);
    auto it = free_.find(cls);
    if (it != free_.end()) {
      p = it->second;
      free_.erase(it);
      cached_ -= cls;
    }
    in_use_ += cls;
    if (in_use_ > peak_) peak_ = in_use_;
  }
  if (!p) {
    p = alloc_host_bytes(cls);
    if (!p) {
      std::lock_guard<std::mutex> lk(m_);
      in_use_ -= cls;
      fail(ErrorKind::Io, "out of host memory allocating ", bytes, " bytes for ", dtype_name(dtype), shape_str(shape));
    }
  }
  std::weak_ptr<HostAllocator> self = shared_from_this();
  auto storage = std::make_shared<Storage>(p, cls, Device::CPU, [self, cls](void* q) {
    if (auto a = self.lock()) a->give_back(q, cls);
    else std::free(q);
  });
  return Tensor(storage, 0, dtype, shape);
}

void HostAllocator::give_back(void* p, size_t bytes) {
  std::lock_guard<std::mutex> lk(m_);
  in_use_ -= bytes;
  free_.emplace(bytes, p);
  cached_ += bytes;
}

void HostAllocator::release_cache() {
  std::lock_guard<std::mutex> lk(m_);
  for (auto& kv : free_) std::free(kv.second);
  free_.clear();
  cached_ = 0;
}

uint64_t HostAllocator::in_use() const { std::lock_guard<std::mutex> lk(m_); return in_use_; }
uint64_t HostAllocator::peak() const { std::lock_guard<std::mutex> lk(m_); return peak_; }
uint64_t HostAllocator::cached() const { std::lock_guard<std::mutex> lk(m_); return cached_; }

HostAllocator::~HostAllocator() { release_cache(); }

}  // namespace indetail
