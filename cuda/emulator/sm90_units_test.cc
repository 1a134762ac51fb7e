// One check per emulated Hopper instruction (sm90_emu.h) against a naive definition written here
// from the PTX ISA's figures: wgmma on known tiles and descriptors (every swizzle mode, K- and
// MN-major, A from registers, k-steps inside a swizzle atom) equals the plain matrix product;
// a TMA box equals the naive copy with zero fill; mbarrier phases, expect-tx and parity waits;
// wgmma group/wait semantics; named barriers; and a warp-specialised TMA -> wgmma pipeline, with
// the write-after-read bug it must catch. Group "sm90".
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../kernels/sm90/ptx90.cuh"
#include "../kernels/sm90/tma_map.h"
#include "check.h"

using namespace indetail::cuda;
using namespace indetail::cuda::sm90;

namespace {

// ---- naive layouts (the ISA's swizzle figures as 16-byte chunk permutations) -----------------
// Row `row` (0..7) of a swizzle pattern keeps its chunks, permuted: 128-byte rows XOR the chunk
// index with the row, 64-byte rows with row/2, 32-byte rows with row/4.
int chunk_perm(int row, int chunk, int width) {
  if (width == 128) return chunk ^ row;
  if (width == 64) return chunk ^ (row / 2);
  if (width == 32) return chunk ^ (row / 4);
  return chunk;
}
// Byte offset of element (r, k) of a K-major tile (r along M or N).
uint32_t kmajor_offset(int r, int k, int width, uint32_t lbo, uint32_t sbo) {
  if (width == 0) return (r / 8) * sbo + (k / 8) * lbo + (r % 8) * 16 + (k % 8) * 2;
  return (r / 8) * sbo + (r % 8) * width + chunk_perm(r % 8, k / 8, width) * 16 + (k % 8) * 2;
}
// Byte offset of element (n, k) of an MN-major tile (n contiguous).
uint32_t mnmajor_offset(int n, int k, int width, uint32_t lbo, uint32_t sbo) {
  if (width == 0) return (n / 8) * sbo + (k / 8) * lbo + (k % 8) * 16 + (n % 8) * 2;
  const int e = width / 2;  // elements per pattern row
  return (n / e) * lbo + (k / 8) * sbo + (k % 8) * width + chunk_perm(k % 8, (n % e) / 8, width) * 16 + (n % 8) * 2;
}
// The accumulator fragment: register v of thread t of a warpgroup holds D[row][col].
int frag_row(int t, int v) { return 16 * (t / 32) + (t % 32) / 4 + 8 * ((v >> 1) & 1); }
int frag_col(int t, int v) { return 8 * (v >> 2) + 2 * (t % 4) + (v & 1); }

template <typename T>
uint16_t bits_of(float f) {
  return emutest::to16<T>(f);
}
template <typename T>
float value_of(uint16_t b) {
  return emutest::from16<T>(b);
}

struct Mat16 {  // a logical rows x cols tile of 16-bit values
  int rows, cols;
  std::vector<uint16_t> b;
  template <typename T>
  static Mat16 random(int rows, int cols) {
    std::normal_distribution<float> d(0.f, 1.f);
    Mat16 m{rows, cols, std::vector<uint16_t>((size_t)rows * cols)};
    for (auto& x : m.b) x = bits_of<T>(d(emutest::g_rng));
    return m;
  }
  uint16_t at(int r, int c) const { return b[(size_t)r * cols + c]; }
};

void put16(std::vector<unsigned char>& img, uint32_t off, uint16_t v) { std::memcpy(&img[off], &v, 2); }

// Compares got (an M x N product) with the double product of A [M x K] and B [K x N] (+ C0).
template <typename T>
void expect_product(const std::string& name, const std::vector<float>& got, const Mat16& A, const Mat16& B,
                    const std::vector<float>& c0, bool accumulate) {
  double worst = 0;
  for (int m = 0; m < A.rows; ++m)
    for (int n = 0; n < B.cols; ++n) {
      double s = accumulate ? c0[(size_t)m * B.cols + n] : 0.0;
      for (int k = 0; k < A.cols; ++k) s += (double)value_of<T>(A.at(m, k)) * value_of<T>(B.at(k, n));
      worst = std::max(worst, std::fabs(s - got[(size_t)m * B.cols + n]));
    }
  char d[80];
  std::snprintf(d, sizeof d, "max err %.2g", worst);
  emutest::expect(worst <= 1e-4 * std::sqrt((double)A.cols), name + " " + emutest::tname<T>(), d);
}

// One wgmma (or K/16 of them, descriptors advanced along K) of a 64 x K tile by a K x N tile.
template <typename T, int N, int TB>
void wgmma_case(const std::string& name, int K, int width_a, int width_b, bool a_in_regs, bool accumulate) {
  const Mat16 A = Mat16::random<T>(64, K), B = Mat16::random<T>(K, N);
  std::vector<float> c0(64 * N), got(64 * N, NAN);
  for (auto& x : c0) x = std::normal_distribution<float>(0.f, 1.f)(emutest::g_rng);
  const uint32_t a_off = 0, b_off = 65536;
  // A (K-major): atoms of 8 rows; no swizzle: core matrices along K at LBO = 128, rows at SBO.
  const uint32_t a_lbo = 128, a_sbo = width_a ? 8 * width_a : 128 * (K / 8);
  // B: K-major like A; MN-major: 8-k groups at SBO, pattern columns along N at LBO.
  const uint32_t b_lbo = TB ? (width_b ? 8 * width_b * (K / 8) : 128) : 128;
  const uint32_t b_sbo = TB ? (width_b ? 8 * width_b : 128 * (K / 8)) : (width_b ? 8 * width_b : 128 * (K / 8));
  std::vector<unsigned char> img(131072);
  for (auto& x : img) x = (unsigned char)(emutest::g_rng() & 0xff);
  for (int m = 0; m < 64; ++m)
    for (int k = 0; k < K; ++k) {
      const int kk = width_a ? k % (width_a / 2) : k, katom = width_a ? k / (width_a / 2) : 0;
      put16(img, a_off + katom * 64 * width_a + kmajor_offset(m, kk, width_a, a_lbo, a_sbo), A.at(m, k));
    }
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) {
      uint32_t off;
      if (TB) {
        off = mnmajor_offset(n, k, width_b, b_lbo, b_sbo);
      } else {
        const int kk = width_b ? k % (width_b / 2) : k, katom = width_b ? k / (width_b / 2) : 0;
        off = katom * N * width_b + kmajor_offset(n, kk, width_b, b_lbo, b_sbo);
      }
      put16(img, b_off + off, B.at(k, n));
    }
  emu::launch_body(1, 128, img.size(), [&] {
    const int t = threadIdx.x;
    if (t == 0) std::memcpy(dynamic_smem(), img.data(), img.size());
    __syncthreads();
    float d[N / 2];
    for (int v = 0; v < N / 2; ++v) d[v] = c0[frag_row(t, v) * N + frag_col(t, v)];
    wgmma_fence();
    for (int ks = 0; ks < K / 16; ++ks) {
      // A and B advance 32 bytes per k16 inside a K-major swizzle row (a new atom column every
      // width/32 steps); MN-major B advances two 8-k groups (2 SBO).
      auto kmajor_desc = [&](uint32_t base, int width, int rows, uint32_t lbo, uint32_t sbo) {
        if (width == 0) return smem_desc(base + ks * 2 * lbo, 0, lbo, sbo);
        const int per_atom = width / 32, atom = ks / per_atom;
        return smem_desc(base + atom * rows * width + (ks % per_atom) * 32, width, lbo, sbo);
      };
      const uint64_t db = TB ? smem_desc(b_off + ks * 2 * (width_b ? b_sbo : b_lbo), width_b, b_lbo, b_sbo)
                             : kmajor_desc(b_off, width_b, N, b_lbo, b_sbo);
      const int acc = accumulate || ks > 0;
      if (a_in_regs) {
        uint32_t a[4];
        for (int i = 0; i < 4; ++i) {
          const int row = 16 * (t / 32) + (t % 32) / 4 + 8 * (i & 1), k = 16 * ks + 2 * (t % 4) + 8 * (i >> 1);
          a[i] = (uint32_t)A.at(row, k) | ((uint32_t)A.at(row, k + 1) << 16);
        }
        wgmma_rs<T, N, TB>(d, a, db, acc);
        // A registers are read when the group completes: they must stay live until the wait.
        wgmma_commit();
        wgmma_wait<0>();
        wgmma_fence();
      } else {
        wgmma_ss<T, N, TB>(d, kmajor_desc(a_off, width_a, 64, a_lbo, a_sbo), db, acc);
      }
    }
    wgmma_commit();
    wgmma_wait<0>();
    for (int v = 0; v < N / 2; ++v) got[frag_row(t, v) * N + frag_col(t, v)] = d[v];
  });
  char label[160];
  std::snprintf(label, sizeof label, "wgmma %s m64n%dk%d A %s%s B %s%s", name.c_str(), N, K,
                a_in_regs ? "regs" : "K-major sw", a_in_regs ? "" : std::to_string(width_a).c_str(),
                TB ? "MN-major sw" : "K-major sw", std::to_string(width_b).c_str());
  expect_product<T>(label, got, A, B, c0, accumulate);
}

template <typename T>
void wgmma_cases() {
  for (int w : {0, 32, 64, 128}) {
    wgmma_case<T, 64, 0>("ss", 16, w, w, false, true);
    wgmma_case<T, 64, 1>("ss", 16, w, w, false, false);
  }
  wgmma_case<T, 8, 0>("ss", 16, 128, 32, false, true);
  wgmma_case<T, 40, 1>("rs", 16, 0, 128, true, true);
  wgmma_case<T, 160, 0>("ss k-steps", 64, 128, 128, false, false);
  wgmma_case<T, 256, 0>("ss k-steps", 32, 64, 32, false, true);
  wgmma_case<T, 80, 1>("rs k-steps", 64, 0, 128, true, false);
  wgmma_case<T, 128, 1>("rs k-steps", 32, 0, 64, true, true);
}

// ---- wgmma group semantics --------------------------------------------------------------------
void wgmma_async_cases() {
  const Mat16 A = Mat16::random<__half>(64, 16), B = Mat16::random<__half>(16, 8);
  std::vector<unsigned char> img(4096, 0);
  for (int m = 0; m < 64; ++m)
    for (int k = 0; k < 16; ++k) put16(img, kmajor_offset(m, k, 32, 0, 256), A.at(m, k));
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) put16(img, 2048 + kmajor_offset(n, k, 32, 0, 256), B.at(k, n));
  const uint64_t da = smem_desc(0, 32, 0, 256), db = smem_desc(2048, 32, 0, 256);
  auto ref = [&](int t, int v) {
    double s = 0;
    for (int k = 0; k < 16; ++k)
      s += (double)value_of<__half>(A.at(frag_row(t, v), k)) * value_of<__half>(B.at(k, frag_col(t, v)));
    return s;
  };
  bool before_wait_unchanged = true, wait1_first_done = true, wait1_second_pending = true, all_done = true;
  emu::launch_body(1, 128, img.size(), [&] {
    const int t = threadIdx.x;
    if (t == 0) std::memcpy(dynamic_smem(), img.data(), img.size());
    __syncthreads();
    float d1[4] = {7, 7, 7, 7}, d2[4] = {9, 9, 9, 9};
    wgmma_fence();
    wgmma_ss<__half, 8, 0>(d1, da, db, 0);
    wgmma_commit();
    for (float x : d1) before_wait_unchanged = before_wait_unchanged && x == 7;
    wgmma_fence();
    wgmma_ss<__half, 8, 0>(d2, da, db, 1);
    wgmma_commit();
    wgmma_wait<1>();
    for (int v = 0; v < 4; ++v) wait1_first_done = wait1_first_done && std::fabs(d1[v] - ref(t, v)) < 1e-3;
    __syncthreads();  // every thread has waited for one group only: the second must still be in flight
    for (int v = 0; v < 4; ++v) wait1_second_pending = wait1_second_pending && d2[v] == 9;
    __syncthreads();
    wgmma_wait<0>();
    for (int v = 0; v < 4; ++v) all_done = all_done && std::fabs(d2[v] - 9 - ref(t, v)) < 1e-3;
  });
  emutest::expect(before_wait_unchanged, "wgmma: accumulators keep their values until the group is waited for");
  emutest::expect(wait1_first_done && wait1_second_pending,
                  "wgmma: wait_group 1 retires the older of two groups; the emulator runs a group no earlier than its first wait");
  emutest::expect(all_done, "wgmma: wait_group 0 retires every group (scale-d 1 accumulates)");

  auto fails_with = [&](const std::function<void()>& body, int threads, const char* needle) {
    try {
      emu::launch_body(1, threads, img.size(), body);
    } catch (const std::exception& e) {
      return std::string(e.what()).find(needle) != std::string::npos;
    }
    return false;
  };
  emutest::expect(fails_with(
                      [&] {
                        float d[4] = {};
                        wgmma_ss<__half, 8, 0>(d, da, db, 0);
                        wgmma_commit();
                        wgmma_wait<0>();
                      },
                      128, "wgmma.fence"),
                  "wgmma: a batch without wgmma.fence is reported");
  emutest::expect(fails_with(
                      [&] {
                        float d[4] = {};
                        wgmma_fence();
                        wgmma_ss<__half, 8, 0>(d, da, db, 0);
                        wgmma_commit();
                      },
                      128, "not waited"),
                  "wgmma: exiting with a group in flight is reported");
  // A buffer refilled before the wait that retires its reader: the product sees the new bytes.
  bool corrupted = false;
  emu::launch_body(1, 128, img.size(), [&] {
    const int t = threadIdx.x;
    if (t == 0) std::memcpy(dynamic_smem(), img.data(), img.size());
    __syncthreads();
    float d[4];
    wgmma_fence();
    wgmma_ss<__half, 8, 0>(d, da, db, 0);
    wgmma_commit();
    if (t == 0) std::memset(dynamic_smem() + 2048, 0, 256);
    __syncthreads();  // the refill happens before any thread waits for the group
    wgmma_wait<0>();
    for (int v = 0; v < 4; ++v) corrupted = corrupted || std::fabs(d[v] - ref(t, v)) > 1e-3;
  });
  emutest::expect(corrupted, "wgmma: an operand overwritten before wgmma.wait_group changes the product (hazard visible)");
}

// ---- TMA ----------------------------------------------------------------------------------------
void tma_case(int width) {
  // A 4-D tensor [2][3][11][37] of 16-bit values, rows padded to 48 elements, and a box that
  // sticks out of it on both sides of dimensions 0 and 1 and past the end of dimension 2.
  const uint64_t dims[4] = {37, 11, 3, 2};
  const uint64_t pitch = 48;
  std::vector<uint16_t> g(pitch * 11 * 3 * 2);
  for (size_t i = 0; i < g.size(); ++i) g[i] = (uint16_t)(i * 7 + 1);
  alignas(16) static uint16_t store[48 * 11 * 3 * 2];
  std::memcpy(store, g.data(), sizeof store);
  TmaSpec s;
  s.base = store;
  s.rank = 4;
  for (int d = 0; d < 4; ++d) s.dims[d] = dims[d];
  s.strides[0] = pitch * 2;
  s.strides[1] = pitch * 2 * 11;
  s.strides[2] = pitch * 2 * 11 * 3;
  const uint32_t box0 = width ? width / 2 : 24;
  const uint32_t box[4] = {box0, 8, 2, 1};
  for (int d = 0; d < 4; ++d) s.box[d] = box[d];
  s.swizzle = width;
  CUtensorMap map;
  encode_tma(&map, s);
  const int c[4] = {-5, 6, 2, 1};
  const uint32_t bytes = box0 * 8 * 2 * 2, dst = 1024, bar = 8;
  std::vector<unsigned char> smem(4096);
  bool early_false = false, landed_late = false;
  emu::g_eager_copies = false;
  emu::launch_body(1, 32, 4096, [&] {
    if (threadIdx.x == 0) {
      std::memset(dynamic_smem() + dst, 0xcd, bytes);
      mbar_init(bar, 1);
      fence_barrier_init();
      mbar_arrive_expect_tx(bar, bytes);
      early_false = !mbar_try_wait(bar, 0);  // arrived, but the transaction bytes are still due
      tma_load_4d(dst, &map, bar, c[0], c[1], c[2], c[3]);
      landed_late = dynamic_smem()[dst] == 0xcd;  // element (-5, 6, 2, 1) is outside: 0 once landed
      mbar_wait(bar, 0);
      std::memcpy(smem.data(), dynamic_smem(), smem.size());
    }
  });
  size_t bad = 0;
  for (uint32_t i1 = 0; i1 < 2 * 8; ++i1)  // (i2, i1) rows of the box
    for (uint32_t i0 = 0; i0 < box0; ++i0) {
      const int x0 = c[0] + (int)i0, x1 = c[1] + (int)(i1 % 8), x2 = c[2] + (int)(i1 / 8), x3 = c[3];
      const bool in = x0 >= 0 && x0 < 37 && x1 >= 0 && x1 < 11 && x2 >= 0 && x2 < 3;
      const uint16_t want = in ? g[((size_t)(x3 * 3 + x2) * 11 + x1) * pitch + x0] : 0;
      const uint32_t row_bytes = box0 * 2, lin = i1 * row_bytes + i0 * 2;
      uint32_t off = lin;
      if (width) {  // pattern rows of `width` bytes, 8 rows per pattern
        const uint32_t row = lin / width, chunk = (lin % width) / 16;
        off = row * width + chunk_perm(row % 8, chunk, width) * 16 + lin % 16;
      }
      uint16_t got;
      std::memcpy(&got, &smem[dst + off], 2);
      bad += got != want;
    }
  emutest::expect(bad == 0 && landed_late && early_false,
                  "tma 4-D box " + std::to_string(box0) + "x8x2x1 swizzle " + std::to_string(width) +
                      ", out-of-bounds zero fill, lands at the barrier wait",
                  std::to_string(bad) + " wrong elements");
}

void tma_rule_cases() {
  alignas(16) static uint16_t t[1024];
  TmaSpec s;
  s.base = t;
  s.rank = 2;
  s.dims[0] = 64;
  s.dims[1] = 16;
  s.strides[0] = 100;  // not a multiple of 16
  s.box[0] = 64;
  s.box[1] = 8;
  s.swizzle = 128;
  emutest::expect(tma_problem(s).find("stride") != std::string::npos, "tma rules: a stride that is not a multiple of 16");
  s.strides[0] = 128;
  s.box[0] = 72;
  emutest::expect(tma_problem(s).find("swizzle") != std::string::npos, "tma rules: an inner box wider than the swizzle");
  s.box[0] = 64;
  s.base = t + 1;
  emutest::expect(tma_problem(s).find("aligned") != std::string::npos, "tma rules: a misaligned base");
  s.base = t;
  emutest::expect(tma_problem(s).empty(), "tma rules: a valid 2-D map is accepted");
}

// ---- mbarrier and named barriers --------------------------------------------------------------
void barrier_cases() {
  bool fresh = false, first = false, second = false;
  emu::launch_body(1, 96, 64, [&] {
    const int t = threadIdx.x;
    const uint32_t bar = 16;
    if (t == 0) {
      mbar_init(bar, 3);
      fresh = mbar_try_wait(bar, 1) && !mbar_try_wait(bar, 0);
    }
    __syncthreads();
    if (t % 32 == 0) mbar_arrive(bar);  // three warps
    mbar_wait(bar, 0);
    if (t == 0) first = mbar_try_wait(bar, 0) && !mbar_try_wait(bar, 1);
    __syncthreads();
    if (t % 32 == 0) mbar_arrive(bar);
    mbar_wait(bar, 1);
    if (t == 0) second = mbar_try_wait(bar, 1);
  });
  emutest::expect(fresh && first && second, "mbarrier: phases complete after `count` arrivals, parity waits alternate");

  bool deadlock = false;
  try {
    emu::launch_body(1, 64, 64, [&] {
      if (threadIdx.x == 0) mbar_init(0, 2);
      __syncthreads();
      if (threadIdx.x == 0) mbar_arrive(0);
      mbar_wait(0, 0);
    });
  } catch (const std::exception& e) {
    deadlock = std::string(e.what()).find("deadlock") != std::string::npos &&
               std::string(e.what()).find("mbarrier") != std::string::npos;
  }
  emutest::expect(deadlock, "mbarrier: a missing arrival is reported as a deadlock naming the barrier");

  std::vector<int> seen(128, -1);
  emu::launch_body(1, 256, 512, [&] {
    const int t = threadIdx.x;
    int* box = reinterpret_cast<int*>(dynamic_smem());
    if (t < 128) {
      box[t] = 1000 + t;
      named_bar_arrive(1, 256);
    } else {
      named_bar_sync(1, 256);
      seen[t - 128] = box[255 - t];
    }
  });
  bool ok = true;
  for (int i = 0; i < 128; ++i) ok = ok && seen[i] == 1000 + 127 - i;
  emutest::expect(ok, "named barriers: bar.arrive by a producer warpgroup releases bar.sync of the consumers");
}

// ---- a warp-specialised pipeline ----------------------------------------------------------------
// One producer warp streams K tiles of A [64 x K] and B [64 x K] (K-major, 128-byte swizzle)
// through a 2-stage ring (full / empty mbarriers); one consumer warpgroup runs 4 wgmma per tile.
// `skip_empty_wait`: the producer refills a stage without waiting for its consumer (the bug).
template <typename T>
std::vector<float> pipeline_run(const Mat16& A, const Mat16& B, int K, bool skip_empty_wait) {
  alignas(16) static uint16_t ga[64 * 512], gb[64 * 512];
  std::memcpy(ga, A.b.data(), A.b.size() * 2);
  std::memcpy(gb, B.b.data(), B.b.size() * 2);
  auto map_of = [&](const uint16_t* p) {
    TmaSpec s;
    s.base = p;
    s.rank = 4;
    s.dims[0] = K;
    s.dims[1] = 64;
    s.dims[2] = s.dims[3] = 1;
    s.strides[0] = K * 2;
    s.strides[1] = s.strides[2] = K * 2 * 64;
    s.box[0] = 64;
    s.box[1] = 64;
    s.box[2] = s.box[3] = 1;
    s.swizzle = 128;
    CUtensorMap m;
    encode_tma(&m, s);
    return m;
  };
  const CUtensorMap ma = map_of(ga), mb = map_of(gb);
  constexpr int kStage = 2 * 8192, kStages = 2;
  const uint32_t bars = kStages * kStage;  // full[s] at bars + 8s, empty[s] at bars + 16 + 8s
  std::vector<float> out(64 * 64, NAN);
  const int tiles = K / 64;
  emu::launch_body(1, 256, bars + 32, [&] {
    const int t = threadIdx.x;
    if (t == 0)
      for (int s = 0; s < kStages; ++s) {
        mbar_init(bars + 8 * s, 1);
        mbar_init(bars + 16 + 8 * s, 1);
      }
    fence_barrier_init();
    __syncthreads();
    if (t < 128) {  // producer warpgroup: one thread issues
      if (t != 0) return;
      for (int kt = 0; kt < tiles; ++kt) {
        const int s = kt % kStages;
        if (kt >= kStages && !skip_empty_wait) mbar_wait(bars + 16 + 8 * s, ((kt / kStages) - 1) & 1);
        mbar_arrive_expect_tx(bars + 8 * s, kStage);
        tma_load_4d(s * kStage, &ma, bars + 8 * s, kt * 64, 0, 0, 0);
        tma_load_4d(s * kStage + 8192, &mb, bars + 8 * s, kt * 64, 0, 0, 0);
      }
      return;
    }
    const int ct = t - 128;
    float d[32];
    for (int kt = 0; kt < tiles; ++kt) {
      const int s = kt % kStages;
      mbar_wait(bars + 8 * s, (kt / kStages) & 1);
      wgmma_fence();
      for (int ks = 0; ks < 4; ++ks)
        wgmma_ss<T, 64, 0>(d, smem_desc(s * kStage + 32 * ks, 128, 16, 1024),
                           smem_desc(s * kStage + 8192 + 32 * ks, 128, 16, 1024), kt > 0 || ks > 0);
      wgmma_commit();
      wgmma_wait<1>();
      if (kt > 0 && ct == 0) mbar_arrive(bars + 16 + 8 * ((kt - 1) % kStages));
    }
    wgmma_wait<0>();
    for (int v = 0; v < 32; ++v) out[frag_row(ct, v) * 64 + frag_col(ct, v)] = d[v];
  });
  return out;
}

template <typename T>
void pipeline_cases() {
  const int K = 384;
  const Mat16 A = Mat16::random<T>(64, K), Bt = Mat16::random<T>(64, K);  // Bt: B as [N x K]
  Mat16 B{K, 64, std::vector<uint16_t>((size_t)K * 64)};
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < 64; ++n) B.b[(size_t)k * 64 + n] = Bt.at(n, k);
  const std::vector<float> none(64 * 64, 0.f);
  for (bool eager : {false, true}) {
    emu::g_eager_copies = eager;
    expect_product<T>(std::string("pipeline: producer warp + consumer warpgroup, 2 stages, copies land ") +
                          (eager ? "at issue" : "at the wait"),
                      pipeline_run<T>(A, Bt, K, false), A, B, none, false);
  }
  // Without the empty-barrier wait, a refill lands on a stage the consumer has not finished: the
  // product is wrong, or the full barriers run ahead of the consumer's parity and it never wakes.
  emu::g_eager_copies = true;
  std::string outcome = "a correct product";
  try {
    const std::vector<float> bad = pipeline_run<T>(A, Bt, K, true);
    double worst = 0;
    for (int m = 0; m < 64; ++m)
      for (int n = 0; n < 64; ++n) {
        double s = 0;
        for (int k = 0; k < K; ++k) s += (double)value_of<T>(A.at(m, k)) * value_of<T>(B.at(k, n));
        worst = std::max(worst, std::fabs(s - bad[m * 64 + n]));
      }
    if (worst > 1e-2) outcome = "a wrong product";
  } catch (const std::exception& e) {
    outcome = std::string(e.what()).find("deadlock") != std::string::npos ? "a deadlock" : e.what();
  }
  emu::g_eager_copies = false;
  emutest::expect(outcome == "a wrong product" || outcome == "a deadlock",
                  std::string("pipeline: a refill without the empty-barrier wait is caught ") + emutest::tname<T>(),
                  outcome);
}

}  // namespace

void run_sm90_unit_cases() {
  wgmma_cases<__half>();
  wgmma_cases<__nv_bfloat16>();
  wgmma_async_cases();
  for (int w : {0, 32, 64, 128}) tma_case(w);
  tma_rule_cases();
  barrier_cases();
  pipeline_cases<__half>();
  pipeline_cases<__nv_bfloat16>();
}
