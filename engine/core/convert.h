// Bulk dtype conversions on the host (checkpoint loading, uploads), vectorised and threaded.
#pragma once
#include <cstddef>
#include <cstdint>

namespace indetail {

void convert_f16_to_f32(const uint16_t* src, float* dst, size_t n);
void convert_bf16_to_f32(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_f16(const float* src, uint16_t* dst, size_t n);

namespace avx2 {
// F16C versions (compiled with -mavx2 -mf16c; call only when the CPU has them).
void convert_f16_to_f32(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_f16(const float* src, uint16_t* dst, size_t n);
}  // namespace avx2

}  // namespace indetail
