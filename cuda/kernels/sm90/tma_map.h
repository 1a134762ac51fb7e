// Tensor maps for TMA box loads: what a kernel's operand looks like in global memory (up to 5
// dimensions, innermost first, byte strides for the outer ones) and the box one copy moves.
// tma_problem() states the rules the driver enforces (cuTensorMapEncodeTiled) so a caller can
// fall back to another kernel instead of failing; encode_tma() builds the CUtensorMap (through the
// driver on a device, as the emulator's own encoding under INDETAIL_CUDA_EMULATION).
#pragma once
#include <cuda.h>

#include <cstdint>
#include <string>

namespace indetail {
namespace cuda {
namespace sm90 {

struct TmaSpec {
  const void* base = nullptr;
  int esize = 2;                 // bytes per element
  int rank = 0;                  // 1..5
  uint64_t dims[5] = {};         // elements per dimension, innermost first
  uint64_t strides[4] = {};      // bytes between consecutive indices of dimensions 1..rank-1
  uint32_t box[5] = {};          // elements per box and dimension
  int swizzle = 0;               // 0, 32, 64 or 128 bytes (the shared tile layout wgmma reads)
};

// Empty when the driver accepts the spec, else what is wrong.
std::string tma_problem(const TmaSpec& s);
// Fills `out`; throws Error(Device) when the driver refuses it.
void encode_tma(CUtensorMap* out, const TmaSpec& s);

}  // namespace sm90
}  // namespace cuda
}  // namespace indetail
