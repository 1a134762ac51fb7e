// Host versions of the sm_90a instructions of cuda/kernels/sm90/ptx90.cuh and wgmma_ops.cuh,
// written from the PTX ISA (not from the kernels). Unit checks: sm90_units_test.cc.
//
// mbarrier: a phase completes when the pending arrival count reaches zero and the transaction
//   count (expect-tx adds, TMA complete-tx subtracts) is zero; the count is then re-armed and the
//   phase parity flips. try_wait.parity(p) is true when the current phase's parity differs from p
//   (the phase of parity p has completed), so on a fresh barrier try_wait(1) is true at once.
// TMA (cp.async.bulk.tensor .tile): the box is copied in element order (coordinate 0 innermost)
//   to consecutive shared bytes, each address then swizzled (bits [4, 4+b) ^= bits [7, 7+b));
//   elements outside the tensor (negative or past the end) are zero; the whole box size completes
//   on the mbarrier. Boxes land when a thread waits on their barrier (or at issue with
//   EMU_CP_ASYNC=eager).
// wgmma.mma_async m64nNk16: the accumulator fragment of thread t (warp w = t/32 of the
//   warpgroup, g = lane/4, q = lane%4) holds D[16w + g + 8·((v/2)%2)][8·(v/4) + 2q + v%2] in
//   register v; A from registers uses the m16n8k16 A fragment per warp. Shared operands are
//   decoded from their descriptors with the canonical layouts (in 16-byte units, T = 8 elements):
//     K-major, no swizzle:  (row r, k) at (r%8) + (r/8)·SBO + (k/8)·LBO
//     K-major, swizzle W:   (r%8)·W/16 + (r/8)·SBO + k/8            (LBO unused)
//     MN-major, no swizzle: (u = r/8) u·SBO + (k%8) + (k/8)·LBO
//     MN-major, swizzle W:  (u%(W/16)) + (u/(W/16))·LBO + (k%8)·W/16 + (k/8)·SBO
//   plus 2·(element within the 16 bytes), then the swizzle of the absolute address. The operation
//   runs when the first thread of the warpgroup waits for its group (all 128 threads have issued:
//   the instruction is warpgroup-collective), reading shared memory and registers then.
#pragma once
#include <cuda.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

namespace emu {

// ---- tensor maps ------------------------------------------------------------------------------
// What the emulator keeps inside a CUtensorMap's 128 opaque bytes.
struct TensorMap {
  uint64_t magic;
  const unsigned char* base;
  uint32_t rank, esize, swizzle, pad;
  uint64_t dims[5];
  uint64_t strides[4];  // bytes, dimensions 1..rank-1
  uint32_t box[5];
};
static_assert(sizeof(TensorMap) <= sizeof(CUtensorMap), "the emulated tensor map must fit a CUtensorMap");
constexpr uint64_t kTensorMapMagic = 0x454d5554454e534dULL;

inline void encode_tensor_map(CUtensorMap* out, const void* base, int rank, int esize, const uint64_t* dims,
                              const uint64_t* strides_bytes, const uint32_t* box, int swizzle) {
  TensorMap m{};
  m.magic = kTensorMapMagic;
  m.base = static_cast<const unsigned char*>(base);
  m.rank = (uint32_t)rank;
  m.esize = (uint32_t)esize;
  m.swizzle = (uint32_t)swizzle;
  for (int d = 0; d < rank; ++d) {
    m.dims[d] = dims[d];
    m.box[d] = box[d];
    if (d > 0) m.strides[d - 1] = strides_bytes[d - 1];
  }
  std::memset(out, 0, sizeof(CUtensorMap));
  std::memcpy(out, &m, sizeof m);
}

inline const TensorMap& tensor_map(const CUtensorMap* p) {
  const TensorMap* m = reinterpret_cast<const TensorMap*>(p);
  if (m->magic != kTensorMapMagic) fail("a TMA copy with a tensor map that was not encoded (tma_map.h)");
  return *m;
}

// The swizzle of an absolute shared address for a pattern of `width` bytes (0: none).
inline uint32_t swizzle_addr(uint32_t addr, int width) {
  if (width == 0) return addr;
  const uint32_t mask = (uint32_t)width / 16 - 1;  // 7, 3, 1
  return addr ^ (((addr >> 7) & mask) << 4);
}

// ---- mbarriers ----------------------------------------------------------------------------------
inline Mbarrier& mbar(uint32_t addr, const char* what) {
  auto it = g_cta->mbar.find(addr);
  if (it == g_cta->mbar.end())
    fail(std::string(what) + " on shared address " + std::to_string(addr) + ", which holds no initialised mbarrier");
  return it->second;
}
inline void mbar_maybe_complete(Mbarrier& b) {
  if (b.pending == 0 && b.tx == 0) {
    ++b.phase;
    b.pending = b.expected;
  }
  ++g_progress;
}
inline void mbar_complete_tx(uint32_t addr, int64_t bytes) {
  Mbarrier& b = mbar(addr, "complete-tx");
  b.tx -= bytes;
  mbar_maybe_complete(b);
}
inline void land_boxes(uint32_t bar) {
  auto& boxes = g_cta->boxes;
  for (size_t i = 0; i < boxes.size();) {
    if (boxes[i].bar == bar) {
      auto land = std::move(boxes[i].land);
      boxes.erase(boxes.begin() + (long)i);
      land();
    } else {
      ++i;
    }
  }
}

// ---- wgmma --------------------------------------------------------------------------------------
struct WgmmaOp {
  int n = 0, bf16 = 0, a_regs = 0, trans_a = 0, trans_b = 0;
  uint64_t da = 0, db = 0;
  int accumulate[128] = {};
  float* d[128] = {};
  const uint32_t* a[128] = {};
};

struct Operand16 {  // a 16-bit element of a shared operand tile, by descriptor
  uint32_t start, lbo, sbo;
  int width;  // swizzle bytes, 0 none
  bool mn_major;
  explicit Operand16(uint64_t desc, bool mn) : mn_major(mn) {
    start = (uint32_t)(desc & 0x3FFF) << 4;
    lbo = (uint32_t)((desc >> 16) & 0x3FFF) << 4;
    sbo = (uint32_t)((desc >> 32) & 0x3FFF) << 4;
    const int base_offset = (int)((desc >> 49) & 7);
    const int mode = (int)(desc >> 62);
    width = mode == 1 ? 128 : mode == 2 ? 64 : mode == 3 ? 32 : 0;
    if (base_offset != 0) fail("wgmma descriptor with a non-zero matrix base offset (not modelled)");
  }
  // Element (r, k): r along M (or N), k along K.
  uint32_t addr(int r, int k) const {
    uint32_t a;
    if (!mn_major) {
      a = width == 0 ? start + (r / 8) * sbo + (r % 8) * 16 + (k / 8) * lbo + (k % 8) * 2
                     : start + (r / 8) * sbo + (r % 8) * width + k * 2;
    } else {
      const int u = r / 8, w = width / 16;
      a = width == 0 ? start + u * sbo + (k % 8) * 16 + (k / 8) * lbo + (r % 8) * 2
                     : start + (u % w) * 16 + (u / w) * lbo + (k % 8) * width + (k / 8) * sbo + (r % 8) * 2;
    }
    return swizzle_addr(a, width);
  }
};

inline float f16_bits(uint16_t b, bool bf16) {
  if (bf16) {
    const uint32_t u = (uint32_t)b << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  __half_raw r;
  r.x = b;
  return __half2float(__half(r));
}

inline void run_wgmma(WgmmaOp& op) {
  static float A[64][16], B[16][256];
  for (int m = 0; m < 64; ++m)
    for (int k = 0; k < 16; ++k) {
      uint16_t bits;
      if (op.a_regs) {  // warp m/16, lane 4·(m%8) + (k%8)/2, register (m%16)/8 + 2·(k/8), half k%2
        const int w = m / 16, rr = m % 16, lane = 4 * (rr % 8) + (k % 8) / 2;
        const uint32_t v = op.a[32 * w + lane][rr / 8 + 2 * (k / 8)];
        bits = (uint16_t)(k % 2 ? v >> 16 : v & 0xffff);
      } else {
        const Operand16 a(op.da, op.trans_a);
        std::memcpy(&bits, smem_at(a.addr(m, k), 2, "wgmma A operand"), 2);
      }
      A[m][k] = f16_bits(bits, op.bf16);
    }
  const Operand16 b(op.db, op.trans_b);
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < op.n; ++n) {
      uint16_t bits;
      std::memcpy(&bits, smem_at(b.addr(n, k), 2, "wgmma B operand"), 2);
      B[k][n] = f16_bits(bits, op.bf16);
    }
  for (int t = 0; t < 128; ++t) {
    const int w = t / 32, lane = t % 32, g = lane / 4, q = lane % 4;
    for (int v = 0; v < op.n / 2; ++v) {
      const int row = 16 * w + g + 8 * ((v / 2) % 2), col = 8 * (v / 4) + 2 * q + v % 2;
      float acc = op.accumulate[t] ? op.d[t][v] : 0.0f;
      for (int k = 0; k < 16; ++k) acc += A[row][k] * B[k][col];
      op.d[t][v] = acc;
    }
  }
}

inline WarpgroupState& my_warpgroup(int& lt) {
  const int wg = g_cur / 128;
  lt = g_cur % 128;
  if (wg >= 8) fail("wgmma in a block of more than 1024 threads");
  if (g_cta->nthreads < 128 * (wg + 1)) fail("wgmma needs whole warpgroups (128 threads)");
  return g_cta->wg[wg];
}

inline void wgmma_issue(const WgmmaOp& proto, float* d, const uint32_t* a, int accumulate) {
  int lt;
  WarpgroupState& s = my_warpgroup(lt);
  if (!s.fenced[lt]) fail("wgmma.mma_async without a wgmma.fence before its batch");
  const int idx = s.issued[lt]++;
  if (idx == (int)s.ops.size()) {
    s.ops.push_back(std::make_shared<WgmmaOp>(proto));
  } else {
    const WgmmaOp& o = *s.ops[idx];
    if (o.n != proto.n || o.bf16 != proto.bf16 || o.a_regs != proto.a_regs || o.trans_b != proto.trans_b ||
        o.da != proto.da || o.db != proto.db)
      fail("the threads of a warpgroup issued different wgmma operations (.aligned)");
  }
  WgmmaOp& o = *s.ops[idx];
  o.d[lt] = d;
  o.a[lt] = a;
  o.accumulate[lt] = accumulate;
  barrier_sync(s.issue_bar, [] { return 128; }, "the other threads of its warpgroup at wgmma.mma_async");
}

}  // namespace emu

namespace indetail {
namespace cuda {
namespace sm90 {

// ---- mbarrier -----------------------------------------------------------------------------------
inline void mbar_init(uint32_t bar, uint32_t count) {
  if (bar % 8 != 0) ::emu::fail("mbarrier.init at a shared address that is not 8-byte aligned");
  ::emu::smem_at(bar, 8, "mbarrier.init");
  if (count == 0 || count >= (1u << 20)) ::emu::fail("mbarrier.init with count " + std::to_string(count));
  ::emu::Mbarrier b;
  b.expected = b.pending = count;
  ::emu::g_cta->mbar[bar] = b;
  ++::emu::g_progress;
}
inline void fence_barrier_init() {}
inline void mbar_arrive(uint32_t bar) {
  ::emu::Mbarrier& b = ::emu::mbar(bar, "mbarrier.arrive");
  if (b.pending == 0) ::emu::fail("mbarrier.arrive on a barrier whose arrivals are all in");
  --b.pending;
  ::emu::mbar_maybe_complete(b);
}
inline void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  ::emu::mbar(bar, "mbarrier.arrive.expect_tx").tx += bytes;
  mbar_arrive(bar);
}
inline bool mbar_try_wait(uint32_t bar, uint32_t parity) {
  ::emu::land_boxes(bar);
  return (::emu::mbar(bar, "mbarrier.try_wait").phase & 1) != (parity & 1);
}
inline void mbar_wait(uint32_t bar, uint32_t parity) {
  ::emu::wait_until([&] { return mbar_try_wait(bar, parity); }, "an mbarrier",
                    " at shared " + std::to_string(bar) + " (parity " + std::to_string(parity) + ")");
}

// ---- TMA ----------------------------------------------------------------------------------------
inline void tma_load_4d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2, int c3) {
  const ::emu::TensorMap& m = ::emu::tensor_map(map);
  if (m.rank != 4) ::emu::fail("tma_load_4d with a tensor map of rank " + std::to_string(m.rank));
  const uint32_t align = m.swizzle ? 8 * m.swizzle : 128;
  if (dst % align != 0)
    ::emu::fail("TMA destination " + std::to_string(dst) + " not aligned to " + std::to_string(align) +
                " bytes (the emulator requires swizzled boxes to start a swizzle pattern)");
  size_t bytes = m.esize;
  for (int d = 0; d < 4; ++d) bytes *= m.box[d];
  ::emu::smem_at(dst, bytes, "TMA box");
  ::emu::mbar(bar, "a TMA copy");
  auto land = [m, dst, bar, bytes, c0, c1, c2, c3] {
    const int cc[4] = {c0, c1, c2, c3};
    size_t lin = 0;
    for (uint32_t i3 = 0; i3 < m.box[3]; ++i3)
      for (uint32_t i2 = 0; i2 < m.box[2]; ++i2)
        for (uint32_t i1 = 0; i1 < m.box[1]; ++i1)
          for (uint32_t i0 = 0; i0 < m.box[0]; ++i0, lin += m.esize) {
            const int64_t x[4] = {(int64_t)cc[0] + i0, (int64_t)cc[1] + i1, (int64_t)cc[2] + i2, (int64_t)cc[3] + i3};
            bool in = true;
            for (int d = 0; d < 4; ++d) in = in && x[d] >= 0 && x[d] < (int64_t)m.dims[d];
            unsigned char* to = ::emu::g_cta->smem + ::emu::swizzle_addr(dst + (uint32_t)lin, (int)m.swizzle);
            if (in) {
              const unsigned char* from = m.base + x[0] * m.esize + x[1] * m.strides[0] + x[2] * m.strides[1] +
                                          x[3] * m.strides[2];
              std::memcpy(to, from, m.esize);
            } else {
              std::memset(to, 0, m.esize);
            }
          }
    ::emu::mbar_complete_tx(bar, (int64_t)bytes);
  };
  if (::emu::g_eager_copies) land();
  else ::emu::g_cta->boxes.push_back({bar, land});
}
inline void tma_prefetch_map(const CUtensorMap*) {}
inline void fence_proxy_async() {}

// ---- named barriers and registers -----------------------------------------------------------
inline void named_bar_sync(int id, int threads) {
  if (id < 1 || id > 15 || threads % 32 != 0) ::emu::fail("bar.sync " + std::to_string(id) + ", " + std::to_string(threads));
  ::emu::barrier_sync(::emu::g_cta->named[id], [threads] { return threads; }, "a named barrier (bar.sync)");
}
inline void named_bar_arrive(int id, int threads) {
  if (id < 1 || id > 15 || threads % 32 != 0) ::emu::fail("bar.arrive " + std::to_string(id) + ", " + std::to_string(threads));
  ::emu::barrier_arrive(::emu::g_cta->named[id], threads);
}
template <int N>
inline void reg_alloc() {
  static_assert(N % 8 == 0 && N >= 24 && N <= 256, "setmaxnreg takes multiples of 8 in [24, 256]");
}
template <int N>
inline void reg_dealloc() {
  static_assert(N % 8 == 0 && N >= 24 && N <= 256, "setmaxnreg takes multiples of 8 in [24, 256]");
}

// ---- wgmma --------------------------------------------------------------------------------------
inline void wgmma_fence() {
  int lt;
  ::emu::my_warpgroup(lt).fenced[lt] = true;
}
inline void wgmma_commit() {
  int lt;
  ::emu::WarpgroupState& s = ::emu::my_warpgroup(lt);
  const int g = s.committed_groups[lt]++;
  std::vector<int> ops;
  for (int i = s.committed_ops[lt]; i < s.issued[lt]; ++i) ops.push_back(i);
  if (g == (int)s.groups.size()) {
    s.groups.push_back(ops);
    s.group_done.push_back(false);
  } else if (s.groups[g] != ops) {
    ::emu::fail("the threads of a warpgroup committed different wgmma groups");
  }
  s.committed_ops[lt] = s.issued[lt];
  s.fenced[lt] = false;
}
template <int N>
inline void wgmma_wait() {
  int lt;
  ::emu::WarpgroupState& s = ::emu::my_warpgroup(lt);
  while (s.committed_groups[lt] - s.retired_groups[lt] > N) {
    const int g = s.retired_groups[lt]++;
    if (s.group_done[g]) continue;
    for (int i : s.groups[g]) ::emu::run_wgmma(*s.ops[i]);
    s.group_done[g] = true;
    ++::emu::g_progress;
  }
}
template <int N>
inline void fence_regs(float (&)[N]) {}
template <int N>
inline void fence_regs(uint32_t (&)[N]) {}

template <typename T>
constexpr int is_bf16() {
  return std::is_same<T, __nv_bfloat16>::value ? 1 : 0;
}
template <typename T, int N, int TB>
inline void wgmma_ss(float (&d)[N / 2], uint64_t da, uint64_t db, int accumulate) {
  static_assert(N % 8 == 0 && N >= 8 && N <= 256, "wgmma N must be a multiple of 8 in [8, 256]");
  ::emu::WgmmaOp op;
  op.n = N;
  op.bf16 = is_bf16<T>();
  op.trans_b = TB;
  op.da = da;
  op.db = db;
  ::emu::wgmma_issue(op, d, nullptr, accumulate);
}
template <typename T, int N, int TB>
inline void wgmma_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t db, int accumulate) {
  static_assert(N % 8 == 0 && N >= 8 && N <= 256, "wgmma N must be a multiple of 8 in [8, 256]");
  ::emu::WgmmaOp op;
  op.n = N;
  op.bf16 = is_bf16<T>();
  op.a_regs = 1;
  op.trans_b = TB;
  op.db = db;
  ::emu::wgmma_issue(op, d, a, accumulate);
}

}  // namespace sm90
}  // namespace cuda
}  // namespace indetail
