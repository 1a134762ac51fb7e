// What the caching allocators (engine/cpu/host_allocator, cuda/device_allocator) share: the size
// classes blocks are rounded to, and the cache of free blocks with its byte counts. Memory is
// neither obtained nor freed here; a BlockCache is not locked (its owner's mutex guards it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <type_traits>

namespace indetail {

// `bytes` rounded up to a multiple of `granule` up to `small_limit`, above it to classes 1/8 of
// a power of two apart (at most 12.5% waste), so that blocks freed by one step fit the next.
inline size_t block_size_class(size_t bytes, size_t granule, size_t small_limit) {
  if (bytes <= small_limit) return (bytes + granule - 1) / granule * granule;
  size_t p = 1;
  while (p < bytes) p <<= 1;
  size_t step = p >> 3;
  return (bytes + step - 1) / step * step;
}

// Removes and returns a block of size class `cls` from `blocks` (size class -> block), nullptr if none.
inline void* take_block(std::multimap<size_t, void*>& blocks, size_t cls) {
  auto it = blocks.find(cls);
  if (it == blocks.end()) return nullptr;
  void* p = it->second;
  blocks.erase(it);
  return p;
}

// Free blocks by size class, and the bytes in use (handed out, peak) and cached (free, kept).
struct BlockCache {
  std::multimap<size_t, void*> blocks;
  uint64_t in_use = 0, peak = 0, cached = 0;

  // A cached block of class `cls`, or nullptr.
  void* take(size_t cls) {
    void* p = take_block(blocks, cls);
    if (p) cached -= cls;
    return p;
  }
  // The smallest cached block of a class in [cls, max_cls], or nullptr; *got = its class.
  void* take_fit(size_t cls, size_t max_cls, size_t* got) {
    auto it = blocks.lower_bound(cls);
    if (it == blocks.end() || it->first > max_cls) return nullptr;
    void* p = it->second;
    *got = it->first;
    cached -= it->first;
    blocks.erase(it);
    return p;
  }
  // Keeps a free block of class `cls` for reuse.
  void put(void* p, size_t cls) {
    blocks.emplace(cls, p);
    cached += cls;
  }
  // A block of class `cls` is handed out / is no longer in use.
  void acquired(size_t cls) {
    in_use += cls;
    if (in_use > peak) peak = in_use;
  }
  void released(size_t cls) { in_use -= cls; }
  // Frees every cached block with free_block(void*) or free_block(void*, size_class).
  template <class Free>
  void clear(Free free_block) {
    for (auto& kv : blocks) {
      if constexpr (std::is_invocable_v<Free, void*, size_t>) free_block(kv.second, kv.first);
      else free_block(kv.second);
    }
    blocks.clear();
    cached = 0;
  }
};

}  // namespace indetail
