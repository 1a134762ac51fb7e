// Host versions of the sm_80 instructions of cuda/kernels/ptx.cuh and attention_mma.cuh, written
// from the PTX ISA definitions of the fragment layouts (not from the kernels):
//   ldmatrix .m8n8.x4 .b16: matrix i takes its 8 row addresses from lanes 8i..8i+7; lane l receives
//     row l/4, elements 2(l%4) and 2(l%4)+1 (.trans: rows 2(l%4) and 2(l%4)+1, element l/4);
//   mma.m16n8k16 (g = lane/4, t = lane%4): A regs {(g, 2t..), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..)},
//     B regs {k 2t.., k 2t+8..} of column g, C {(g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1)};
//   cp.async: 16 bytes (zero-filled when the source size is 0) that land when a wait retires them.
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace indetail {
namespace cuda {

inline unsigned char* dynamic_smem() { return ::emu::smem_base(); }
inline uint32_t smem_u32(const void* p) { return ::emu::smem_offset(p); }

inline void cp_async16(uint32_t dst, const void* src, bool valid) {
  if (dst % 16 != 0 || (valid && reinterpret_cast<uintptr_t>(src) % 16 != 0))
    ::emu::fail("cp.async with a misaligned address");
  const ::emu::PendingCopy copy{::emu::smem_at(dst, 16, "cp.async"), src, valid};
  if (::emu::g_eager_copies) copy.run();
  else ::emu::my_copies().open.push_back(copy);
}
inline void cp_async_commit() {
  auto& c = ::emu::my_copies();
  c.groups.push_back(std::move(c.open));
  c.open.clear();
}
template <int N>
inline void cp_async_wait() {
  ::emu::retire_groups(N);
}

template <bool TRANS>
inline void ldmatrix_x4_impl(uint32_t* r, uint32_t addr) {
  const int lane = ::emu::lane_id();
  if (addr % 16 != 0) ::emu::fail("ldmatrix row address " + std::to_string(addr) + " not 16-byte aligned");
  ::emu::lane_scratch(lane)[0] = addr;
  ::emu::warp_wait();
  auto ld16 = [](uint32_t a) {
    uint16_t v;
    std::memcpy(&v, ::emu::smem_at(a, 2, "ldmatrix"), 2);
    return (uint32_t)v;
  };
  for (int i = 0; i < 4; ++i) {
    uint32_t lo, hi;
    if (!TRANS) {
      const uint32_t row = (uint32_t)::emu::lane_scratch(8 * i + lane / 4)[0];
      lo = ld16(row + 4 * (lane % 4));
      hi = ld16(row + 4 * (lane % 4) + 2);
    } else {
      const uint32_t r0 = (uint32_t)::emu::lane_scratch(8 * i + 2 * (lane % 4))[0];
      const uint32_t r1 = (uint32_t)::emu::lane_scratch(8 * i + 2 * (lane % 4) + 1)[0];
      lo = ld16(r0 + 2 * (lane / 4));
      hi = ld16(r1 + 2 * (lane / 4));
    }
    r[i] = lo | (hi << 16);
  }
  ::emu::warp_wait();
}
inline void ldmatrix_x4(uint32_t* r, uint32_t addr) { ldmatrix_x4_impl<false>(r, addr); }
inline void ldmatrix_x4_trans(uint32_t* r, uint32_t addr) { ldmatrix_x4_impl<true>(r, addr); }

template <typename T>
inline float bits_to_float(uint16_t b) {
  T h;
  std::memcpy(&h, &b, 2);
  return (float)h;
}
template <typename T>
inline float half_of(uint32_t v, int hi) {
  return bits_to_float<T>((uint16_t)(hi ? v >> 16 : v & 0xffff));
}

// c += a · b on one m16n8k16 tile (row-major A, column-major B, F32 accumulators).
template <typename T>
inline void mma16816(float* c, const uint32_t* a, const uint32_t* b) {
  const int lane = ::emu::lane_id();
  uint64_t* mine = ::emu::lane_scratch(lane);
  for (int i = 0; i < 4; ++i) mine[i] = a[i];
  mine[4] = b[0];
  mine[5] = b[1];
  ::emu::warp_wait();
  auto A = [&](int row, int k) {
    const int g = row % 8, rh = row / 8, kk = k % 8, kh = k / 8;
    return half_of<T>((uint32_t)::emu::lane_scratch(4 * g + kk / 2)[rh + 2 * kh], kk % 2);
  };
  auto B = [&](int k, int n) {
    const int kk = k % 8, kh = k / 8;
    return half_of<T>((uint32_t)::emu::lane_scratch(4 * n + kk / 2)[4 + kh], kk % 2);
  };
  const int g = lane / 4, t = lane % 4;
  const int rows[4] = {g, g, g + 8, g + 8};
  const int cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
  float out[4];
  for (int i = 0; i < 4; ++i) {
    float acc = c[i];
    for (int k = 0; k < 16; ++k) acc += A(rows[i], k) * B(k, cols[i]);
    out[i] = acc;
  }
  ::emu::warp_wait();
  for (int i = 0; i < 4; ++i) c[i] = out[i];
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

// The names the attention kernels use (attention_mma.cuh).
namespace mma {
inline uint32_t smem_addr(const void* p) { return ::emu::smem_offset(p); }
using ::indetail::cuda::cp_async16;
using ::indetail::cuda::cp_async_commit;
using ::indetail::cuda::cp_async_wait;
using ::indetail::cuda::ldmatrix_x4;
using ::indetail::cuda::ldmatrix_x4_trans;
using ::indetail::cuda::pack2;
template <typename T>
inline void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  const uint32_t b[2] = {b0, b1};
  mma16816<T>(d, a, b);
}
}  // namespace mma

}  // namespace cuda
}  // namespace indetail
