// A CPU emulator for the attention kernels' device code, so their indexing, masking, segment
// and pipeline logic can be checked on machines without a GPU (cuda/kernels/attention_sim.cpp).
// Each CUDA thread of a CTA is a fiber (ucontext) on one host thread, switched at barriers:
// __syncthreads / __syncwarp and the warp
// collectives (shuffles, ldmatrix, mma.m16n8k16) exchange operands through a per-warp buffer and
// compute each lane's result from the PTX ISA fragment layouts. cp.async copies are deferred to
// the wait that retires them (kCopyAtWait) or done at issue (kCopyAtIssue): the first exposes
// reads of tiles that were not waited for, the second overwrites of tiles still being read.
// Included by attention_mma.cuh when INDETAIL_ATTN_SIM is defined; never part of the addon.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_types.h>

#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#undef __launch_bounds__
#undef __grid_constant__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__
#define __launch_bounds__(...)
#define __grid_constant__

namespace indetail {
namespace cuda {
namespace sim {

enum CopyMode { kCopyAtIssue, kCopyAtWait };

struct Pending {
  void* dst;
  const void* src;
  bool valid;
};

struct Cta {
  static constexpr int kThreads = 128, kWarps = 4;
  dim3 block, grid;
  std::vector<unsigned char> smem;
  // barrier state: [0] the CTA, [1 + w] warp w
  int arrived[1 + kWarps] = {};
  unsigned generation[1 + kWarps] = {};
  uint64_t xbuf[kWarps][32][8];
  CopyMode copy_mode = kCopyAtWait;
  // per thread: committed groups (oldest first) and the open group
  std::vector<std::vector<Pending>> groups[kThreads];
  std::vector<Pending> open[kThreads];
  ucontext_t sched;
  ucontext_t ctx[kThreads];
  bool done[kThreads] = {};
  const std::function<void()>* body = nullptr;
};

inline Cta* g_cta = nullptr;
inline int t_tid = 0;  // the fiber running now

inline int lane() { return t_tid & 31; }
inline int warp_id() { return t_tid >> 5; }

inline void yield() { swapcontext(&g_cta->ctx[t_tid], &g_cta->sched); }

// Returns when `count` fibers have arrived at barrier `id` (the same call site, by contract).
inline void barrier(int id, int count) {
  Cta& c = *g_cta;
  if (++c.arrived[id] == count) {
    c.arrived[id] = 0;
    ++c.generation[id];
    return;
  }
  const unsigned gen = c.generation[id];
  while (c.generation[id] == gen) yield();
}
inline void warp_sync() { barrier(1 + warp_id(), 32); }

inline void fiber_main() {
  (*g_cta->body)();
  g_cta->done[t_tid] = true;
  // returning switches to uc_link (the scheduler)
}

template <typename F>
void launch(dim3 grid, size_t smem_bytes, CopyMode mode, F&& body) {
  constexpr size_t kStack = 256 * 1024;
  static std::unique_ptr<char[]> stacks(new char[kStack * Cta::kThreads]);  // reused, never zeroed
  const std::function<void()> fn = [&body] { body(); };
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        auto cta = std::make_unique<Cta>();
        cta->block = dim3(x, y, z);
        cta->grid = grid;
        cta->copy_mode = mode;
        cta->smem.assign(smem_bytes + 16, 0xCD);  // garbage, as on the device
        cta->body = &fn;
        g_cta = cta.get();
        for (int t = 0; t < Cta::kThreads; ++t) {
          getcontext(&cta->ctx[t]);
          cta->ctx[t].uc_stack.ss_sp = stacks.get() + kStack * t;
          cta->ctx[t].uc_stack.ss_size = kStack;
          cta->ctx[t].uc_link = &cta->sched;
          makecontext(&cta->ctx[t], fiber_main, 0);
        }
        for (bool live = true; live;) {  // round robin until every fiber has finished
          live = false;
          for (int t = 0; t < Cta::kThreads; ++t) {
            if (cta->done[t]) continue;
            live = true;
            t_tid = t;
            swapcontext(&cta->sched, &cta->ctx[t]);
          }
        }
        g_cta = nullptr;
      }
}

inline unsigned char* smem_base() { return g_cta->smem.data(); }

}  // namespace sim

}  // namespace cuda
}  // namespace indetail

// CUDA built-ins in terms of the emulated CTA.
#undef threadIdx
#undef blockIdx
#undef gridDim
#undef blockDim
#define threadIdx (dim3((unsigned)::indetail::cuda::sim::t_tid, 0u, 0u))
#define blockIdx (::indetail::cuda::sim::g_cta->block)
#define gridDim (::indetail::cuda::sim::g_cta->grid)
#define blockDim (dim3(128u, 1u, 1u))

inline void __syncthreads() { ::indetail::cuda::sim::barrier(0, 128); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::indetail::cuda::sim::warp_sync(); }

template <typename V>
inline V __shfl_xor_sync(unsigned, V v, int mask) {
  using namespace ::indetail::cuda::sim;
  static_assert(sizeof(V) <= 8, "shuffle of a wide type");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(V));
  g_cta->xbuf[warp_id()][lane()][0] = bits;
  warp_sync();
  bits = g_cta->xbuf[warp_id()][lane() ^ mask][0];
  warp_sync();
  V out;
  std::memcpy(&out, &bits, sizeof(V));
  return out;
}

template <typename V>
inline V __shfl_sync(unsigned, V v, int src) {
  using namespace ::indetail::cuda::sim;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(V));
  g_cta->xbuf[warp_id()][lane()][0] = bits;
  warp_sync();
  bits = g_cta->xbuf[warp_id()][src & 31][0];
  warp_sync();
  V out;
  std::memcpy(&out, &bits, sizeof(V));
  return out;
}

namespace indetail {
namespace cuda {
namespace mma {

inline uint32_t smem_addr(const void* p) {
  return (uint32_t)(static_cast<const unsigned char*>(p) - sim::smem_base());
}

inline void cp_async16(uint32_t smem, const void* gmem, bool valid) {
  using namespace sim;
  if (smem % 16 != 0 || smem + 16 > g_cta->smem.size() - 16) {
    std::fprintf(stderr, "sim: cp.async to bad shared address %u\n", smem);
    std::abort();
  }
  if (valid && ((uintptr_t)gmem % 16) != 0) {
    std::fprintf(stderr, "sim: cp.async from misaligned global address %p\n", gmem);
    std::abort();
  }
  Pending p{smem_base() + smem, gmem, valid};
  if (g_cta->copy_mode == kCopyAtIssue) {
    if (valid)
      std::memcpy(p.dst, p.src, 16);
    else
      std::memset(p.dst, 0, 16);
  } else {
    g_cta->open[t_tid].push_back(p);
  }
}
inline void cp_async_commit() {
  using namespace sim;
  g_cta->groups[t_tid].push_back(std::move(g_cta->open[t_tid]));
  g_cta->open[t_tid].clear();
}
template <int N>
inline void cp_async_wait() {
  using namespace sim;
  auto& gs = g_cta->groups[t_tid];
  while ((int)gs.size() > N) {
    for (const Pending& p : gs.front()) {
      if (p.valid)
        std::memcpy(p.dst, p.src, 16);
      else
        std::memset(p.dst, 0, 16);
    }
    gs.erase(gs.begin());
  }
}

inline uint16_t ld16(uint32_t addr) {
  uint16_t v;
  if (addr + 2 > sim::g_cta->smem.size() - 16) {
    std::fprintf(stderr, "sim: ldmatrix past shared memory (%u)\n", addr);
    std::abort();
  }
  std::memcpy(&v, sim::smem_base() + addr, 2);
  return v;
}

template <bool TRANS>
inline void ldmatrix_x4_impl(uint32_t (&r)[4], uint32_t addr) {
  using namespace sim;
  if (addr % 16 != 0) {
    std::fprintf(stderr, "sim: ldmatrix row address %u not 16-byte aligned\n", addr);
    std::abort();
  }
  g_cta->xbuf[warp_id()][lane()][0] = addr;
  warp_sync();
  const int l = lane();
  for (int i = 0; i < 4; ++i) {
    uint16_t lo, hi;
    if (!TRANS) {  // row l/4, columns 2(l%4), 2(l%4)+1 of matrix i
      uint32_t row = (uint32_t)g_cta->xbuf[warp_id()][8 * i + l / 4][0];
      lo = ld16(row + 2 * (2 * (l % 4)));
      hi = ld16(row + 2 * (2 * (l % 4) + 1));
    } else {  // rows 2(l%4), 2(l%4)+1, column l/4
      uint32_t r0 = (uint32_t)g_cta->xbuf[warp_id()][8 * i + 2 * (l % 4)][0];
      uint32_t r1 = (uint32_t)g_cta->xbuf[warp_id()][8 * i + 2 * (l % 4) + 1][0];
      lo = ld16(r0 + 2 * (l / 4));
      hi = ld16(r1 + 2 * (l / 4));
    }
    r[i] = (uint32_t)lo | ((uint32_t)hi << 16);
  }
  warp_sync();
}
inline void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) { ldmatrix_x4_impl<false>(r, addr); }
inline void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) { ldmatrix_x4_impl<true>(r, addr); }

template <typename T>
inline float unpack_lo(uint32_t v);
template <typename T>
inline float unpack_hi(uint32_t v);
template <>
inline float unpack_lo<__half>(uint32_t v) {
  __half_raw r;
  r.x = (unsigned short)(v & 0xffff);
  return __half2float(__half(r));
}
template <>
inline float unpack_hi<__half>(uint32_t v) {
  __half_raw r;
  r.x = (unsigned short)(v >> 16);
  return __half2float(__half(r));
}
template <>
inline float unpack_lo<__nv_bfloat16>(uint32_t v) {
  uint32_t b = (v & 0xffffu) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
template <>
inline float unpack_hi<__nv_bfloat16>(uint32_t v) {
  uint32_t b = v & 0xffff0000u;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

template <typename T>
inline void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  using namespace sim;
  const int w = warp_id(), l = lane();
  for (int i = 0; i < 4; ++i) g_cta->xbuf[w][l][i] = a[i];
  g_cta->xbuf[w][l][4] = b0;
  g_cta->xbuf[w][l][5] = b1;
  warp_sync();
  float A[16][16], B[16][8];
  for (int ln = 0; ln < 32; ++ln) {
    const int g = ln / 4, t = ln % 4;
    const uint64_t* x = g_cta->xbuf[w][ln];
    auto put_a = [&](int row, int col, uint64_t v) {
      A[row][col] = unpack_lo<T>((uint32_t)v);
      A[row][col + 1] = unpack_hi<T>((uint32_t)v);
    };
    put_a(g, 2 * t, x[0]);
    put_a(g + 8, 2 * t, x[1]);
    put_a(g, 2 * t + 8, x[2]);
    put_a(g + 8, 2 * t + 8, x[3]);
    B[2 * t][g] = unpack_lo<T>((uint32_t)x[4]);
    B[2 * t + 1][g] = unpack_hi<T>((uint32_t)x[4]);
    B[2 * t + 8][g] = unpack_lo<T>((uint32_t)x[5]);
    B[2 * t + 9][g] = unpack_hi<T>((uint32_t)x[5]);
  }
  warp_sync();
  const int g = l / 4, t = l % 4;
  for (int e = 0; e < 4; ++e) {
    const int row = g + (e >> 1) * 8, col = 2 * t + (e & 1);
    float s = 0.f;
    for (int k = 0; k < 16; ++k) s += A[row][k] * B[k][col];
    d[e] += s;
  }
}

template <typename T>
inline uint32_t pack2(float x, float y);
template <>
inline uint32_t pack2<__half>(float x, float y) {
  __half2 h = __floats2half2_rn(x, y);
  uint32_t u;
  std::memcpy(&u, &h, 4);
  return u;
}
template <>
inline uint32_t pack2<__nv_bfloat16>(float x, float y) {
  __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
  uint32_t u;
  std::memcpy(&u, &h, 4);
  return u;
}

}  // namespace mma
}  // namespace cuda
}  // namespace indetail
