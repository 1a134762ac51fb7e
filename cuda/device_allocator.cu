#include "device_allocator.h"

#include <cuda_runtime.h>

#include "cuda_check.h"

namespace indetail {

size_t DeviceAllocator::size_class(size_t bytes) {
  if (bytes <= (1u << 20)) return (bytes + 511) / 512 * 512;
  size_t p = 1;
  while (p < bytes) p <<= 1;
  size_t step = p >> 3;
  return (bytes + step - 1) / step * step;
}

Tensor DeviceAllocator::allocate(DType dtype, const Shape& shape) {
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
  }
  if (!p) {
    cudaError_t err = cudaMalloc(&p, cls);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_cache();  // give cached blocks back and try once more
      err = cudaMalloc(&p, cls);
    }
    if (err != cudaSuccess) {
      cudaGetLastError();
      fail(ErrorKind::Device, "out of GPU memory allocating ", bytes, " bytes for ", dtype_name(dtype),
           shape_str(shape), " (", in_use(), " bytes in use by this engine): ", cudaGetErrorString(err));
    }
  }
  {
    std::lock_guard<std::mutex> lk(m_);
    in_use_ += cls;
    if (in_use_ > peak_) peak_ = in_use_;
  }
  std::weak_ptr<DeviceAllocator> self = shared_from_this();
  auto storage = std::make_shared<Storage>(p, cls, Device::CUDA, [self, cls](void* q) {
    if (auto a = self.lock()) a->give_back(q, cls);
    else cudaFree(q);
  });
  return Tensor(storage, 0, dtype, shape);
}

void DeviceAllocator::give_back(void* p, size_t bytes) {
  std::lock_guard<std::mutex> lk(m_);
  in_use_ -= bytes;
  free_.emplace(bytes, p);
  cached_ += bytes;
}

void DeviceAllocator::release_cache() {
  std::lock_guard<std::mutex> lk(m_);
  for (auto& kv : free_) cudaFree(kv.second);
  free_.clear();
  cached_ = 0;
}

uint64_t DeviceAllocator::in_use() const { std::lock_guard<std::mutex> lk(m_); return in_use_; }
uint64_t DeviceAllocator::peak() const { std::lock_guard<std::mutex> lk(m_); return peak_; }
uint64_t DeviceAllocator::cached() const { std::lock_guard<std::mutex> lk(m_); return cached_; }

DeviceAllocator::~DeviceAllocator() { release_cache(); }

}  // namespace indetail
