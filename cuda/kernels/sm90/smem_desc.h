// Shared-memory matrix descriptors of wgmma (PTX ISA, "Matrix Descriptor Format"): one 64-bit
// word per operand tile, the same bits on the device and in the emulator (which decodes them).
//   bits  0-13  start address >> 4          bits 32-45  stride-dimension byte offset >> 4
//   bits 16-29  leading-dimension byte offset >> 4   bits 49-51  base offset (0: tiles aligned
//   to their swizzle pattern)   bits 62-63  swizzle: 0 none, 1 128-byte, 2 64-byte, 3 32-byte
// A swizzled layout XORs address bits [4, 4 + b) with bits [7, 7 + b) (b = 3, 2, 1 for 128, 64,
// 32 bytes), on absolute shared addresses: TMA writes a box with the same function, so a tile
// whose pattern starts on a multiple of 8 rows of the swizzle width is read back as written.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace indetail {
namespace cuda {
namespace sm90 {

// Swizzle widths in bytes (0: none). They double as the TMA swizzle of the box feeding the tile.
constexpr int kSwizzleNone = 0, kSwizzle32 = 32, kSwizzle64 = 64, kSwizzle128 = 128;

__host__ __device__ constexpr uint64_t smem_desc(uint32_t addr, int swizzle_bytes, uint32_t lbo_bytes,
                                                 uint32_t sbo_bytes) {
  const uint64_t mode = swizzle_bytes == 128 ? 1 : swizzle_bytes == 64 ? 2 : swizzle_bytes == 32 ? 3 : 0;
  return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)((lbo_bytes >> 4) & 0x3FFF) << 16) |
         ((uint64_t)((sbo_bytes >> 4) & 0x3FFF) << 32) | (mode << 62);
}

// A descriptor advanced by `bytes` along its start address (k-steps inside a swizzle atom).
__host__ __device__ constexpr uint64_t desc_advance(uint64_t desc, uint32_t bytes) { return desc + (bytes >> 4); }

}  // namespace sm90
}  // namespace cuda
}  // namespace indetail
