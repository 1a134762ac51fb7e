#include "gemm_weights.h"

#include <algorithm>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/threadpool.h"
#include "parallel.h"

namespace indetail {
namespace cpu {

namespace {

constexpr uint32_t kTagMask = 0xfff00000u;
constexpr uint32_t kPackedTag = 0x47500000u;  // "GP" + nr in the low bits: fp32 panels
constexpr uint32_t kHalfTag = 0x48500000u;    // "HP" + nr: half pair panels

inline float half_to_float(uint16_t v, DType dt) { return dt == DType::F16 ? f16_to_f32(v) : bf16_to_f32(v); }

inline uint16_t float_to_half(float v, DType dt) { return dt == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v); }

// Element i of a row-major host tensor of F32 / F16 / BF16 as float.
inline float plain_at(const void* data, DType dt, int64_t i) {
  if (dt == DType::F32) return static_cast<const float*>(data)[i];
  return half_to_float(static_cast<const uint16_t*>(data)[i], dt);
}

// Index of (row, col) in half panels of nr with an even K of kp.
inline int64_t half_index(int64_t kp, int nr, int64_t row, int64_t col) {
  return (row / nr) * kp * nr + (col / 2) * nr * 2 + (row % nr) * 2 + (col & 1);
}

}  // namespace

uint32_t packed_layout(int nr) { return kPackedTag | (uint32_t)nr; }
uint32_t half_packed_layout(int nr) { return kHalfTag | (uint32_t)nr; }

int packed_nr(uint32_t layout) {
  const uint32_t tag = layout & kTagMask;
  return tag == kPackedTag || tag == kHalfTag ? (int)(layout & ~kTagMask) : 0;
}

bool is_half_packed(uint32_t layout) { return (layout & kTagMask) == kHalfTag; }

int64_t packed_floats(int64_t n, int64_t k, int nr) { return ceil_div(n, nr) * nr * k; }
int64_t half_packed_elems(int64_t n, int64_t k, int nr) { return ceil_div(n, nr) * nr * round_up(k, 2); }

int weight_panel_nr(bool half) {
  const GemmBf16Kernels* bf = gemm_bf16_kernels();
  return half && bf ? bf->nr : gemm_kernels().nr;
}

DType prepared_gemm_dtype(DType source, GemmPrecision prec) {
  if (prec == GemmPrecision::BF16) return DType::BF16;
  return source == DType::F16 || source == DType::BF16 ? source : DType::F32;
}

GemmWeight gemm_weight(const Tensor& w) { return GemmWeight{w.raw(), w.dtype(), w.layout()}; }

float gemm_weight_at(const GemmWeight& b, int64_t k, int64_t row, int64_t col) {
  const int nr = packed_nr(b.layout);
  if (nr == 0) return plain_at(b.data, b.dtype, row * k + col);
  if (is_half_packed(b.layout))
    return half_to_float(static_cast<const uint16_t*>(b.data)[half_index(round_up(k, 2), nr, row, col)], b.dtype);
  return static_cast<const float*>(b.data)[(row / nr) * k * nr + col * nr + row % nr];
}

void repack_f32(const GemmWeight& b, int64_t n, int64_t k, int nr, float* out) {
  parallel_for(ceil_div(n, nr), 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* dst = out + p * k * nr;
      for (int j = 0; j < nr; ++j) {
        const int64_t row = p * nr + j;
        for (int64_t i = 0; i < k; ++i) dst[i * nr + j] = row < n ? gemm_weight_at(b, k, row, i) : 0.0f;
      }
    }
  });
}

void repack_bf16(const GemmWeight& b, int64_t n, int64_t k, int nr, uint16_t* out) {
  const int64_t kp = round_up(k, 2);
  parallel_for(ceil_div(n, nr), 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      for (int j = 0; j < nr; ++j) {
        const int64_t row = p * nr + j;
        for (int64_t i = 0; i < kp; ++i)
          out[half_index(kp, nr, row, i)] = row < n && i < k ? f32_to_bf16(gemm_weight_at(b, k, row, i)) : 0;
      }
    }
  });
}

Tensor pack_gemm_weight(const Tensor& w, DType dtype) {
  check_arg(w.device() == Device::CPU && is_float(w.dtype()), "pack_gemm_weight: a host float weight is needed, got ",
            w.describe());
  check_arg(w.layout() == 0, "pack_gemm_weight: the weight is already prepared: ", w.describe());
  const int64_t n = w.dim() ? w.size(0) : 0, k = n ? w.numel() / n : 0;
  const DType src = w.dtype();
  const void* data = w.raw();
  if (dtype == DType::F32) {
    const int nr = weight_panel_nr(false);
    Tensor storage = Tensor::host_uninitialized(DType::F32, {std::max<int64_t>(packed_floats(n, k, nr), 1)});
    float* out = storage.data<float>();
    parallel_for(ceil_div(n, nr), 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        float* dst = out + p * k * nr;
        for (int j = 0; j < nr; ++j) {
          const int64_t row = p * nr + j;
          for (int64_t i = 0; i < k; ++i) dst[i * nr + j] = row < n ? plain_at(data, src, row * k + i) : 0.0f;
        }
      }
    });
    return Tensor(storage.storage(), 0, DType::F32, w.shape()).with_layout(packed_layout(nr));
  }
  check_arg(dtype == DType::BF16 || dtype == DType::F16, "pack_gemm_weight: cannot store a weight as ", dtype_name(dtype));
  const int nr = weight_panel_nr(true);
  const int64_t kp = round_up(k, 2);
  Tensor storage = Tensor::host_uninitialized(dtype, {std::max<int64_t>(half_packed_elems(n, k, nr), 1)});
  uint16_t* out = storage.data<uint16_t>();
  const bool same = src == dtype;
  parallel_for(ceil_div(n, nr), 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      for (int j = 0; j < nr; ++j) {
        const int64_t row = p * nr + j;
        for (int64_t i = 0; i < kp; ++i) {
          uint16_t v = 0;
          if (row < n && i < k) {
            const int64_t at = row * k + i;
            v = same ? static_cast<const uint16_t*>(data)[at] : float_to_half(plain_at(data, src, at), dtype);
          }
          out[half_index(kp, nr, row, i)] = v;
        }
      }
    }
  });
  return Tensor(storage.storage(), 0, dtype, w.shape()).with_layout(half_packed_layout(nr));
}

Tensor unpack_gemm_weight(const Tensor& w) {
  Tensor out = Tensor::host_uninitialized(DType::F32, w.shape());
  const int64_t n = w.dim() ? w.size(0) : 0, k = n ? w.numel() / n : 0;
  const GemmWeight b = gemm_weight(w);
  float* o = out.data<float>();
  parallel_for(n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row)
      for (int64_t i = 0; i < k; ++i) o[row * k + i] = gemm_weight_at(b, k, row, i);
  });
  return out;
}

}  // namespace cpu
}  // namespace indetail
