// Small helpers shared by the CPU ops' argument checks.
#pragma once
#include <cstdint>

#include "../backend.h"
#include "../op_checks.h"

namespace indetail {
namespace cpu {

// A defined F32 tensor on the CPU.
inline void check_f32(const char* op, const char* arg, const Tensor& t) {
  check_device(op, arg, t, Device::CPU);
  check_dtype(op, arg, t, DType::F32);
}

// Whether the memory of a and b overlaps (an output that aliases an input).
inline bool overlaps(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined() || a.nbytes() == 0 || b.nbytes() == 0) return false;
  auto a0 = reinterpret_cast<uintptr_t>(a.raw()), b0 = reinterpret_cast<uintptr_t>(b.raw());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

// t, or a copy of it (from be's allocator) when its memory overlaps out: for an op that writes
// out before it has read all of t (an in-place call).
inline Tensor unaliased(Backend& be, const Tensor& t, const Tensor& out) {
  if (!overlaps(t, out)) return t;
  Tensor c = be.empty(t.shape());
  be.copy(t, c);
  return c;
}

// The packed weights of gemm.h carry a layout tag; their data is no longer [N, K] row-major.
inline bool is_plain(const Tensor& t) { return t.layout() == 0; }

// The weight of a GEMM op: F32 (plain or prepared), or a prepared half-precision (BF16 / F16) one.
inline void check_gemm_weight(const char* op, const char* arg, const Tensor& t) {
  check_device(op, arg, t, Device::CPU);
  check_arg(t.dtype() == DType::F32 || (!is_plain(t) && (t.dtype() == DType::BF16 || t.dtype() == DType::F16)), op,
            ": ", arg, " must be F32 or a prepared weight, got ", t.describe());
}

}  // namespace cpu
}  // namespace indetail
