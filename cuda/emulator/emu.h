// A host SIMT emulator for the CUDA kernels of cuda/kernels/, force-included (g++ -include) by
// cuda/emulator/run.sh. It checks index arithmetic, tiling, pipelining, fragment layouts and
// synchronisation on a machine without a GPU; it says nothing about speed.
//
// Execution model: the blocks of a launch run one after another; every CUDA thread of a block is
// a fiber (its own stack) on one host thread, switched round robin at every synchronisation
// point (__syncthreads, named barriers, warp collectives, mbarrier waits, warpgroup MMAs). A
// thread that waits yields until its condition holds; when a whole round passes in which no
// fiber made progress, the block is deadlocked and the launch fails naming what each thread waits
// for (a missing arrive, a barrier count that never fills).
//
// Asynchronous copies stay pending until the wait that must retire them: cp.async groups until
// cp.async.wait_group, TMA boxes until a thread waits on their mbarrier, wgmma groups until
// wgmma.wait_group, so a missing wait reads stale data. EMU_CP_ASYNC=eager lands copies at issue
// instead, so a copy into a buffer other threads still read shows up as corrupt data.
// Instruction semantics live next to this file: ptx_emu.h (sm_80: cp.async, ldmatrix, mma.sync)
// and sm90_emu.h (mbarrier, TMA, wgmma).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#undef __shared__
#define __shared__ static
#undef __launch_bounds__
#define __launch_bounds__(...)
#undef __grid_constant__
#define __grid_constant__

namespace emu {

// ---- fibers --------------------------------------------------------------------------------
// x86-64 switches with a few instructions (callee-saved registers, MXCSR and the x87 control
// word); elsewhere, and under AddressSanitizer (which follows swapcontext), ucontext.
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define EMU_ASM_SWITCH 1
extern "C" void emu_switch_stack(void** save_sp, void* new_sp);
asm(R"(
.text
.p2align 4
.weak emu_switch_stack
.type emu_switch_stack,@function
emu_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size emu_switch_stack, .-emu_switch_stack
)");
#endif

struct Fiber {
  void* sp = nullptr;  // saved stack pointer (asm switch)
  ucontext_t uc;       // (ucontext switch)
  bool done = false;
  const char* waiting = nullptr;  // what the fiber is blocked on, nullptr when runnable
  std::string waiting_detail;
};

constexpr size_t kStackBytes = 256 * 1024;
constexpr int kMaxThreads = 1024;
constexpr size_t kMaxDynamicSmem = 227 * 1024;  // sm_90 opt-in maximum per block

// Per thread state of the asynchronous-copy units (cp.async groups).
struct PendingCopy {
  unsigned char* dst;
  const void* src;
  bool valid;
  void run() const {
    if (valid) std::memcpy(dst, src, 16);
    else std::memset(dst, 0, 16);
  }
};
struct ThreadCopies {
  std::vector<PendingCopy> open;
  std::vector<std::vector<PendingCopy>> groups;
};

struct BarrierState {
  int arrived = 0;
  uint64_t gen = 0;
};

// Hopper state of a block: mbarriers, TMA copies in flight, warpgroup MMA groups (sm90_emu.h).
struct Mbarrier {
  uint32_t expected = 0, pending = 0;
  int64_t tx = 0;
  uint32_t phase = 0;
};
struct PendingBox {  // a TMA box copy: lands (bytes, then complete-tx) when its barrier is waited on
  uint32_t bar;
  std::function<void()> land;
};
struct WgmmaOp;  // sm90_emu.h
struct WarpgroupState {
  std::vector<std::shared_ptr<WgmmaOp>> ops;   // issued, in order (shared by the 128 threads)
  std::vector<std::vector<int>> groups;        // committed groups: op indices
  std::vector<bool> group_done;
  int issued[128] = {}, committed_ops[128] = {}, committed_groups[128] = {}, retired_groups[128] = {};
  bool fenced[128] = {};
  BarrierState issue_bar;
};

struct Cta {
  uint3 block_idx;
  int nthreads = 0;
  std::vector<Fiber> fibers;
  unsigned char* smem = nullptr;
  size_t smem_bytes = 0;
  BarrierState block_bar, named[16], warp_bar[32];
  int live = 0, live_in_warp[32] = {};
  uint64_t xbuf[32][32][8];  // [warp][lane][word]: operands of warp collectives
  std::vector<ThreadCopies> copies;
  std::map<uint32_t, Mbarrier> mbar;
  std::vector<PendingBox> boxes;
  WarpgroupState wg[8];
  std::string error;  // set by a fiber that failed; the launch throws it
};

inline Cta* g_cta = nullptr;
inline int g_cur = 0;  // the running fiber
inline dim3 g_blockDim, g_gridDim;
inline uint64_t g_progress = 0;
inline int64_t g_threads_run = 0;
inline void* g_sched_sp = nullptr;
inline ucontext_t g_sched_uc;
inline const std::function<void()>* g_body = nullptr;

inline bool g_eager_copies = [] {
  const char* e = std::getenv("EMU_CP_ASYNC");
  return e && std::string(e) == "eager";
}();

inline int tid_linear() { return g_cur; }
inline int lane_id() { return g_cur & 31; }
inline int warp_id() { return g_cur >> 5; }
inline uint3 thread_idx() {
  const unsigned t = (unsigned)g_cur;
  return make_uint3(t % g_blockDim.x, (t / g_blockDim.x) % g_blockDim.y, t / (g_blockDim.x * g_blockDim.y));
}

struct Stacks {  // reserved once, touched lazily
  unsigned char* base = nullptr;
  Stacks() {
    void* p = mmap(nullptr, kStackBytes * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("emulator: cannot reserve fiber stacks");
    base = static_cast<unsigned char*>(p);
  }
  unsigned char* top(int t) const { return base + kStackBytes * (t + 1); }
};
inline Stacks& stacks() {
  static Stacks s;
  return s;
}

inline void to_scheduler() {
#ifdef EMU_ASM_SWITCH
  emu_switch_stack(&g_cta->fibers[g_cur].sp, g_sched_sp);
#else
  swapcontext(&g_cta->fibers[g_cur].uc, &g_sched_uc);
#endif
}

// Raised inside a fiber: the fiber stops, the launch throws (never unwinds across stacks).
struct KernelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] inline void fail(const std::string& what) {
  throw KernelError("thread " + std::to_string(g_cur) + " of block (" + std::to_string(g_cta->block_idx.x) + "," +
                    std::to_string(g_cta->block_idx.y) + "," + std::to_string(g_cta->block_idx.z) + "): " + what);
}

inline void fiber_main() {
  try {
    (*g_body)();
  } catch (const std::exception& e) {
    if (g_cta->error.empty()) g_cta->error = e.what();
  }
  Cta& c = *g_cta;
  c.fibers[g_cur].done = true;
  --c.live;
  --c.live_in_warp[g_cur >> 5];
  ++g_progress;
  to_scheduler();
  std::abort();  // a finished fiber is never resumed
}

#ifdef EMU_ASM_SWITCH
extern "C" inline void emu_fiber_entry() { fiber_main(); }
inline void* initial_stack(int t) {
  // Frame popped by emu_switch_stack: MXCSR/x87 control word, r15..rbp, then `ret` into the
  // entry with the stack aligned as after a call.
  uintptr_t top = reinterpret_cast<uintptr_t>(stacks().top(t)) & ~uintptr_t(15);
  uint64_t* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = 0;                                                     // the entry's return address
  *--sp = reinterpret_cast<uint64_t>(&emu_fiber_entry);          // ret target
  for (int i = 0; i < 6; ++i) *--sp = 0;                         // rbp rbx r12 r13 r14 r15
  *--sp = (uint64_t)0x1F80 | ((uint64_t)0x037F << 32);           // MXCSR, x87 control word
  return sp;
}
#endif

// Blocks the running fiber until cond() holds; `what` names the wait for deadlock reports.
template <typename Cond>
inline void wait_until(Cond&& cond, const char* what, const std::string& detail = std::string()) {
  if (cond()) return;
  Fiber& f = g_cta->fibers[g_cur];
  f.waiting = what;
  f.waiting_detail = detail;
  do {
    to_scheduler();
  } while (!cond());
  f.waiting = nullptr;
  ++g_progress;
}

// A barrier over count() arrivals (threads of a block, a warp, a named barrier). The count is
// read while waiting, so threads that exit count as arrived (live threads only).
template <typename Count>
inline void barrier_sync(BarrierState& b, Count count, const char* what) {
  ++g_progress;
  ++b.arrived;
  const uint64_t g = b.gen;
  wait_until(
      [&] {
        if (b.gen != g) return true;
        if (b.arrived < count()) return false;
        b.arrived = 0;
        ++b.gen;
        return true;
      },
      what);
}
inline void barrier_arrive(BarrierState& b, int count) {
  ++g_progress;
  if (++b.arrived >= count) {
    b.arrived = 0;
    ++b.gen;
  }
}

inline void syncthreads() {
  barrier_sync(g_cta->block_bar, [] { return g_cta->live; }, "__syncthreads");
}
inline void warp_wait() {
  const int w = warp_id();
  barrier_sync(g_cta->warp_bar[w], [w] { return g_cta->live_in_warp[w]; }, "a warp collective");
}
inline uint64_t* lane_scratch(int lane) { return g_cta->xbuf[warp_id()][lane]; }

template <typename T>
T shfl_idx(T v, int src_lane_of) {
  static_assert(sizeof(T) <= 8, "shuffle of a wide type");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  lane_scratch(lane_id())[0] = bits;
  warp_wait();
  bits = lane_scratch(src_lane_of & 31)[0];
  warp_wait();
  T r;
  std::memcpy(&r, &bits, sizeof(T));
  return r;
}

// ---- cp.async queues ---------------------------------------------------------------------------
inline ThreadCopies& my_copies() { return g_cta->copies[g_cur]; }
inline void retire_groups(size_t keep) {
  auto& gs = my_copies().groups;
  while (gs.size() > keep) {
    for (const auto& c : gs.front()) c.run();
    gs.erase(gs.begin());
  }
}

// ---- shared memory -----------------------------------------------------------------------------
inline unsigned char* smem_base() { return g_cta->smem; }
// Offset of an address inside the block's dynamic shared memory ([addr, addr + bytes) must fit).
inline uint32_t smem_offset(const void* p, size_t bytes = 1) {
  const unsigned char* q = static_cast<const unsigned char*>(p);
  if (q < g_cta->smem || q + bytes > g_cta->smem + g_cta->smem_bytes)
    fail("a shared-memory address outside the block's dynamic shared memory");
  return (uint32_t)(q - g_cta->smem);
}
inline unsigned char* smem_at(uint32_t off, size_t bytes, const char* what) {
  if ((size_t)off + bytes > g_cta->smem_bytes)
    fail(std::string(what) + " past the end of dynamic shared memory (offset " + std::to_string(off) + ", " +
         std::to_string(bytes) + " bytes of " + std::to_string(g_cta->smem_bytes) + ")");
  return g_cta->smem + off;
}

// At block exit: TMA boxes nobody waited for still land (as on the device); a warpgroup MMA
// still in flight (never waited for) is a kernel bug.
inline void finish_block_hopper(Cta& c) {
  for (auto& b : c.boxes) b.land();
  c.boxes.clear();
  for (int w = 0; w < 8; ++w)
    for (int t = 0; t < 128; ++t) {
      const WarpgroupState& s = c.wg[w];
      if (s.issued[t] != s.committed_ops[t] || s.committed_groups[t] != s.retired_groups[t])
        c.error = "thread " + std::to_string(128 * w + t) + " exited with wgmma operations not committed or not waited for";
    }
}

// ---- launch ------------------------------------------------------------------------------------
inline void run_block(dim3 block, size_t smem_bytes, uint3 bidx, const std::function<void()>& body) {
  const int n = (int)(block.x * block.y * block.z);
  if (n <= 0 || n > kMaxThreads) throw std::runtime_error("emulated launch with " + std::to_string(n) + " threads per block");
  if (smem_bytes > kMaxDynamicSmem)
    throw std::runtime_error("emulated launch asks for " + std::to_string(smem_bytes) +
                             " bytes of dynamic shared memory (sm_90 allows 232448)");
  auto cta = std::make_unique<Cta>();
  Cta& c = *cta;
  c.block_idx = bidx;
  c.nthreads = n;
  c.live = n;
  for (int w = 0; w < 32; ++w) c.live_in_warp[w] = std::max(0, std::min(32, n - 32 * w));
  c.fibers.resize(n);
  c.copies.resize(n);
  const size_t alloc = std::max<size_t>(smem_bytes, 16);
  std::unique_ptr<unsigned char, void (*)(void*)> smem(static_cast<unsigned char*>(std::aligned_alloc(1024, (alloc + 1023) / 1024 * 1024)),
                                                       std::free);
  std::memset(smem.get(), 0xcd, alloc);  // garbage, like real shared memory
  c.smem = smem.get();
  c.smem_bytes = smem_bytes;
  g_cta = &c;
  g_body = &body;
  for (int t = 0; t < n; ++t) {
#ifdef EMU_ASM_SWITCH
    c.fibers[t].sp = initial_stack(t);
#else
    getcontext(&c.fibers[t].uc);
    c.fibers[t].uc.uc_stack.ss_sp = stacks().top(t) - kStackBytes;
    c.fibers[t].uc.uc_stack.ss_size = kStackBytes;
    c.fibers[t].uc.uc_link = nullptr;
    makecontext(&c.fibers[t].uc, fiber_main, 0);
#endif
  }
  for (;;) {
    const uint64_t before = g_progress;
    bool live = false, all_blocked = true;
    for (int t = 0; t < n && c.error.empty(); ++t) {
      if (c.fibers[t].done) continue;
      live = true;
      g_cur = t;
#ifdef EMU_ASM_SWITCH
      emu_switch_stack(&g_sched_sp, c.fibers[t].sp);
#else
      swapcontext(&g_sched_uc, &c.fibers[t].uc);
#endif
      if (!c.fibers[t].done && !c.fibers[t].waiting) all_blocked = false;
    }
    if (!c.error.empty()) break;
    if (!live) break;
    if (all_blocked && g_progress == before) {
      std::string why = "deadlock in block (" + std::to_string(bidx.x) + "," + std::to_string(bidx.y) + "," +
                        std::to_string(bidx.z) + "):";
      int shown = 0;
      for (int t = 0; t < n && shown < 6; ++t)
        if (!c.fibers[t].done) {
          why += " thread " + std::to_string(t) + " waits on " + c.fibers[t].waiting + c.fibers[t].waiting_detail + ";";
          ++shown;
        }
      c.error = why;
      break;
    }
  }
  if (c.error.empty()) {
    for (int t = 0; t < n; ++t) {  // copies a thread never waited for still land (as on the device)
      g_cur = t;
      retire_groups(0);
      for (const auto& cp : c.copies[t].open) cp.run();
    }
    finish_block_hopper(c);
  }
  g_cta = nullptr;
  g_threads_run += n;
  if (!c.error.empty()) throw std::runtime_error("emulated kernel failed: " + c.error);
}

inline void launch_body(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body) {
  g_gridDim = grid;
  g_blockDim = block;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) run_block(block, smem_bytes, make_uint3(bx, by, bz), body);
}

struct LaunchConfig {
  dim3 grid, block;
  size_t smem;
};
inline LaunchConfig cfg(dim3 grid, dim3 block, size_t smem = 0, cudaStream_t = nullptr) { return {grid, block, smem}; }

// kernel<<<grid, block, smem, stream>>>(args) is rewritten to launch(cfg(grid, block, smem, stream), kernel, args).
template <typename... P, typename... A>
void launch(LaunchConfig c, void (*kernel)(P...), A&&... args) {
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  launch_body(c.grid, c.block, c.smem, [&] { std::apply(kernel, params); });
}

}  // namespace emu

#define threadIdx (::emu::thread_idx())
#define blockIdx (::emu::g_cta->block_idx)
#define blockDim (::emu::g_blockDim)
#define gridDim (::emu::g_gridDim)
#define __syncthreads() (::emu::syncthreads())
#define __shfl_xor_sync(mask, v, off) (::emu::shfl_idx((v), ::emu::lane_id() ^ (off)))
#define __shfl_sync(mask, v, src) (::emu::shfl_idx((v), (src)))
#define __syncwarp(...) (::emu::warp_wait())

// The C++ overload nvcc's cuda_runtime.h adds for kernel pointers.
template <typename... P>
inline cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), enum cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attr, value);
}

inline float __expf(float v) { return std::exp(v); }
inline float rsqrtf(float v) { return 1.0f / std::sqrt(v); }
inline void __nanosleep(unsigned) {}
inline int min(int a, int b) { return a < b ? a : b; }
inline int64_t min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
