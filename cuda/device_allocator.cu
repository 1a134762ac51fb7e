#include "device_allocator.h"

#include <cuda_runtime.h>

#include "cuda_check.h"

namespace indetail {

namespace {
// 512-byte granularity up to 1 MiB.
size_t size_class(size_t bytes) { return block_size_class(bytes, 512, 1u << 20); }
}  // namespace

Tensor DeviceAllocator::allocate(DType dtype, const Shape& shape) {
  size_t bytes = (size_t)shape_numel(shape) * dtype_size(dtype);
  size_t cls = size_class(bytes ? bytes : 1);
  std::shared_ptr<DevicePool> pool;
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lk(m_);
    if (pool_ && pool_thread_ == std::this_thread::get_id()) pool = pool_;
  }
  bool from_pool = false;
  if (pool) {
    std::lock_guard<std::mutex> lk(pool->m_);
    p = take_block(pool->free_, cls);
    from_pool = p != nullptr;
  }
  if (!p) {
    std::lock_guard<std::mutex> lk(m_);
    p = cache_.take(cls);
  }
  if (!p) {
    cudaError_t err;
    if (pool) {
      // Recording a graph: cudaMalloc is a "potentially unsafe" call that a thread-local capture
      // forbids, so this thread relaxes its capture mode for the call (the block is allocated
      // now, not recorded). No cache release and retry here: cudaFree may synchronise.
      cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
      cudaThreadExchangeStreamCaptureMode(&mode);
      err = cudaMalloc(&p, cls);
      cudaThreadExchangeStreamCaptureMode(&mode);
    } else {
      err = cudaMalloc(&p, cls);
      if (err == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        release_cache();  // give cached blocks back and try once more
        err = cudaMalloc(&p, cls);
      }
    }
    if (err != cudaSuccess) {
      cudaGetLastError();
      fail(ErrorKind::Device, "out of GPU memory allocating ", bytes, " bytes for ", dtype_name(dtype),
           shape_str(shape), " (", in_use(), " bytes in use by this engine", pool ? ", while recording a graph" : "",
           "): ", cudaGetErrorString(err));
    }
  }
  if (pool && !from_pool) {
    std::lock_guard<std::mutex> lk(pool->m_);
    pool->reserved_ += cls;
  }
  {
    std::lock_guard<std::mutex> lk(m_);
    cache_.acquired(cls);
  }
  std::weak_ptr<DeviceAllocator> self = shared_from_this();
  std::weak_ptr<DevicePool> wpool = pool;
  auto storage = std::make_shared<Storage>(p, cls, Device::CUDA, [self, wpool, cls](void* q) {
    auto a = self.lock();
    if (!a) {
      cudaFree(q);
      return;
    }
    if (auto pl = wpool.lock()) a->give_back_to_pool(*pl, q, cls);
    else a->give_back(q, cls);
  });
  return Tensor(storage, 0, dtype, shape);
}

void DeviceAllocator::give_back(void* p, size_t bytes) {
  std::lock_guard<std::mutex> lk(m_);
  cache_.released(bytes);
  cache_.put(p, bytes);
}

void DeviceAllocator::give_back_to_pool(DevicePool& pool, void* p, size_t bytes) {
  {
    std::lock_guard<std::mutex> lk(m_);
    cache_.released(bytes);
  }
  std::lock_guard<std::mutex> lk(pool.m_);
  pool.free_.emplace(bytes, p);
}

void DeviceAllocator::take_blocks(std::multimap<size_t, void*>& blocks) {
  std::lock_guard<std::mutex> lk(m_);
  for (auto& kv : blocks) cache_.put(kv.second, kv.first);
  blocks.clear();
}

std::shared_ptr<DevicePool> DeviceAllocator::begin_pool() {
  std::lock_guard<std::mutex> lk(m_);
  check_arg(!pool_, "CUDA graphs: a graph is already being recorded on this engine");
  pool_ = std::shared_ptr<DevicePool>(new DevicePool(shared_from_this()));
  pool_thread_ = std::this_thread::get_id();
  return pool_;
}

void DeviceAllocator::end_pool() {
  std::shared_ptr<DevicePool> drop;  // released outside the lock (its destructor takes it)
  std::lock_guard<std::mutex> lk(m_);
  drop.swap(pool_);
  pool_thread_ = std::thread::id();
}

void DeviceAllocator::release_cache() {
  std::lock_guard<std::mutex> lk(m_);
  cache_.clear([](void* p) { cudaFree(p); });
}

uint64_t DeviceAllocator::in_use() const { std::lock_guard<std::mutex> lk(m_); return cache_.in_use; }
uint64_t DeviceAllocator::peak() const { std::lock_guard<std::mutex> lk(m_); return cache_.peak; }
uint64_t DeviceAllocator::cached() const { std::lock_guard<std::mutex> lk(m_); return cache_.cached; }

DeviceAllocator::~DeviceAllocator() { release_cache(); }

DevicePool::~DevicePool() {
  std::multimap<size_t, void*> blocks;
  {
    std::lock_guard<std::mutex> lk(m_);
    blocks.swap(free_);
  }
  if (auto a = owner_.lock()) a->take_blocks(blocks);
  else
    for (auto& kv : blocks) cudaFree(kv.second);
}

uint64_t DevicePool::reserved() const {
  std::lock_guard<std::mutex> lk(m_);
  return reserved_;
}

}  // namespace indetail
