// Host versions of cuda/kernels/ptx.cuh, written from the PTX ISA definitions of the fragment
// layouts (not from the kernels): ldmatrix .m8n8.x4 .b16 — matrix i takes its 8 row addresses
// from lanes 8i..8i+7 and lane l receives row l/4, elements 2(l%4) and 2(l%4)+1; mma m16n8k16 —
// with g = lane/4 and t = lane%4: A regs {(g, 2t..), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..)},
// B regs {k 2t.., k 2t+8..} of column g, C {(g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1)}.
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace indetail {
namespace cuda {

inline unsigned char* dynamic_smem() { return ::emu::g_smem; }

inline uint32_t smem_u32(const void* p) {
  const unsigned char* q = static_cast<const unsigned char*>(p);
  if (q < ::emu::g_smem || q >= ::emu::g_smem + sizeof(::emu::g_smem))
    throw std::runtime_error("smem_u32 of a pointer outside the dynamic shared memory");
  return (uint32_t)(q - ::emu::g_smem);
}

inline void cp_async16(uint32_t dst, const void* src, bool valid) {
  if (dst % 16 != 0 || (valid && reinterpret_cast<uintptr_t>(src) % 16 != 0))
    throw std::runtime_error("cp.async with a misaligned address");
  const ::emu::PendingCopy copy{::emu::g_smem + dst, src, valid};
  if (::emu::g_eager_copies) copy.run();
  else ::emu::tl_open_group.push_back(copy);
}
inline void cp_async_commit() {
  ::emu::tl_groups.push_back(std::move(::emu::tl_open_group));
  ::emu::tl_open_group.clear();
}
template <int N>
inline void cp_async_wait() {
  ::emu::retire_groups(N);
}

inline void ldmatrix_x4(uint32_t* r, uint32_t addr) {
  const int lane = ::emu::tid_linear() & 31;
  if (addr % 16 != 0) throw std::runtime_error("ldmatrix row address not 16-byte aligned");
  ::emu::lane_scratch(lane)[0] = addr;
  ::emu::warp_wait();
  for (int i = 0; i < 4; ++i) {
    const uint32_t row_addr = ::emu::lane_scratch(8 * i + lane / 4)[0];
    uint16_t e[2];
    std::memcpy(e, ::emu::g_smem + row_addr + 4 * (lane % 4), 4);
    r[i] = (uint32_t)e[0] | ((uint32_t)e[1] << 16);
  }
  ::emu::warp_wait();
}

template <typename T>
inline float bits_to_float(uint16_t b) {
  T h;
  std::memcpy(&h, &b, 2);
  return (float)h;
}

template <typename T>
inline void mma16816(float* c, const uint32_t* a, const uint32_t* b) {
  const int lane = ::emu::tid_linear() & 31;
  uint32_t* mine = ::emu::lane_scratch(lane);
  for (int i = 0; i < 4; ++i) mine[i] = a[i];
  mine[4] = b[0];
  mine[5] = b[1];
  ::emu::warp_wait();
  auto half_of = [](uint32_t v, int which) { return (uint16_t)(which ? v >> 16 : v & 0xffff); };
  auto A = [&](int row, int k) {
    const int g = row % 8, rh = row / 8, kk = k % 8, kh = k / 8;
    const uint32_t v = ::emu::lane_scratch(4 * g + kk / 2)[rh + 2 * kh];
    return bits_to_float<T>(half_of(v, kk % 2));
  };
  auto B = [&](int k, int n) {
    const int kk = k % 8, kh = k / 8;
    const uint32_t v = ::emu::lane_scratch(4 * n + kk / 2)[4 + kh];
    return bits_to_float<T>(half_of(v, kk % 2));
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

}  // namespace cuda
}  // namespace indetail
