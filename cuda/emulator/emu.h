// A host SIMT emulator for the CUDA kernels of cuda/kernels/, force-included (g++ -include) by
// cuda/emulator/run.sh. Every thread of a block is an OS thread; __syncthreads and the
// warp-collective operations (shuffles, ldmatrix, mma) meet at real barriers, blocks run one
// after another, and cp.async copies stay pending until the cp.async.wait_group that must
// retire them (so a missing wait shows up as stale data); EMU_CP_ASYNC=eager lands them at
// issue instead (so a copy into a buffer other warps still read shows up as corrupt data). It checks index arithmetic, tiling,
// pipelining and fragment layouts on a machine without a GPU; it says nothing about speed.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#undef __shared__
#define __shared__ static
#undef __launch_bounds__
#define __launch_bounds__(...)

namespace emu {

struct Barrier {
  std::mutex m;
  std::condition_variable cv;
  int live = 0, arrived = 0;
  uint64_t gen = 0;
  void wait() {
    std::unique_lock<std::mutex> lk(m);
    const uint64_t g = gen;
    if (++arrived == live) {
      arrived = 0;
      ++gen;
      cv.notify_all();
    } else {
      cv.wait(lk, [&] { return gen != g; });
    }
  }
  void leave() {
    std::unique_lock<std::mutex> lk(m);
    --live;
    if (arrived > 0 && arrived == live) {
      arrived = 0;
      ++gen;
      cv.notify_all();
    }
  }
};

struct BlockState {
  Barrier block;
  Barrier warp[32];
  uint32_t scratch[32][32][8];  // [warp][lane][word] for warp-collective exchanges
};

inline BlockState* g_block = nullptr;
inline thread_local uint3 tl_threadIdx, tl_blockIdx;
inline dim3 g_blockDim, g_gridDim;
alignas(128) inline unsigned char g_smem[256 * 1024];  // dynamic shared memory of the running block

inline int tid_linear() {
  return (int)(tl_threadIdx.x + g_blockDim.x * (tl_threadIdx.y + g_blockDim.y * tl_threadIdx.z));
}
inline void warp_wait() { g_block->warp[tid_linear() >> 5].wait(); }
inline uint32_t* lane_scratch(int lane) { return g_block->scratch[tid_linear() >> 5][lane]; }

template <typename T>
T shfl_xor(T v, int off) {
  static_assert(sizeof(T) <= 32, "shuffle of a large type");
  const int lane = tid_linear() & 31;
  std::memcpy(lane_scratch(lane), &v, sizeof(T));
  warp_wait();
  T r;
  std::memcpy(&r, lane_scratch(lane ^ off), sizeof(T));
  warp_wait();
  return r;
}

// cp.async: copies queue per thread in commit groups and run when a wait retires them.
struct PendingCopy {
  unsigned char* dst;
  const void* src;
  bool valid;
  void run() const {
    if (valid) std::memcpy(dst, src, 16);
    else std::memset(dst, 0, 16);
  }
};
inline const bool g_eager_copies = [] {
  const char* e = std::getenv("EMU_CP_ASYNC");
  return e && std::string(e) == "eager";
}();
inline thread_local std::vector<PendingCopy> tl_open_group;
inline thread_local std::vector<std::vector<PendingCopy>> tl_groups;
inline void retire_groups(size_t keep) {
  while (tl_groups.size() > keep) {
    for (const auto& c : tl_groups.front()) c.run();
    tl_groups.erase(tl_groups.begin());
  }
}
inline void retire_all() {
  retire_groups(0);
  for (const auto& c : tl_open_group) c.run();
  tl_open_group.clear();
}

struct LaunchConfig {
  dim3 grid, block;
};
inline LaunchConfig cfg(dim3 grid, dim3 block, size_t = 0, cudaStream_t = nullptr) { return {grid, block}; }

inline int64_t g_threads_run = 0;

template <typename... P, typename... A>
void launch(LaunchConfig c, void (*kernel)(P...), A&&... args) {
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  g_gridDim = c.grid;
  g_blockDim = c.block;
  const int nthreads = (int)(c.block.x * c.block.y * c.block.z);
  for (unsigned bz = 0; bz < c.grid.z; ++bz)
    for (unsigned by = 0; by < c.grid.y; ++by)
      for (unsigned bx = 0; bx < c.grid.x; ++bx) {
        BlockState st;
        st.block.live = nthreads;
        for (int w = 0; w < 32; ++w) st.warp[w].live = std::max(0, std::min(32, nthreads - 32 * w));
        std::memset(g_smem, 0xcd, sizeof(g_smem));  // garbage, like real shared memory
        g_block = &st;
        std::vector<std::thread> threads;
        threads.reserve(nthreads);
        for (int t = 0; t < nthreads; ++t) {
          threads.emplace_back([&, t] {
            tl_threadIdx = make_uint3(t % c.block.x, (t / c.block.x) % c.block.y, t / (c.block.x * c.block.y));
            tl_blockIdx = make_uint3(bx, by, bz);
            tl_groups.clear();
            tl_open_group.clear();
            std::apply(kernel, params);
            retire_all();
            st.warp[t >> 5].leave();
            st.block.leave();
          });
        }
        for (auto& th : threads) th.join();
        g_threads_run += nthreads;
      }
}

}  // namespace emu

#define threadIdx (::emu::tl_threadIdx)
#define blockIdx (::emu::tl_blockIdx)
#define blockDim (::emu::g_blockDim)
#define gridDim (::emu::g_gridDim)
#define __syncthreads() (::emu::g_block->block.wait())
#define __shfl_xor_sync(mask, v, off) (::emu::shfl_xor((v), (off)))

inline float __expf(float v) { return std::exp(v); }
inline float rsqrtf(float v) { return 1.0f / std::sqrt(v); }
inline void __nanosleep(unsigned) {}
inline int min(int a, int b) { return a < b ? a : b; }
inline int64_t min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
