// Prepared GEMM weights: a weight [N, K] (linear [N, K], convolution [Cout, KH·KW·Cin]) in the
// panel layouts the kernels of gemm.h read, tagged in Tensor::layout():
//   fp32 panels (packed_layout(nr)):      [N/nr][K][nr] floats
//   half panels (half_packed_layout(nr)): [N/nr][ceil(K/2)][nr][2] bf16 or f16 values
// both zero-padded to whole panels (and the half layout to an even K). A half panel holds the two
// K values a vdpbf16ps / tdpbf16ps lane multiplies next to each other; the fp32 kernels widen it
// one K block at a time. The Tensor keeps the logical shape; its storage is the padded panels.
#pragma once
#include <cstdint>

#include "../core/tensor.h"
#include "gemm.h"

namespace indetail {
namespace cpu {

uint32_t packed_layout(int nr);
uint32_t half_packed_layout(int nr);
// nr of a packed layout of either kind, or 0 when the tag is not one (plain row-major).
int packed_nr(uint32_t layout);
bool is_half_packed(uint32_t layout);

// Panel width of the weights prepared on this CPU: that of the bf16 kernels when there are any,
// else of the fp32 kernels (half panels are then widened for them).
int weight_panel_nr(bool half);

// The storage a weight of this dtype gets for `prec`: BF16 precision -> bf16 half panels; F32
// precision -> half panels of the same dtype for F16 / BF16 sources (exact in fp32: half the
// memory of widening them at load), fp32 panels for F32.
DType prepared_gemm_dtype(DType source, GemmPrecision prec);

// w: a host [N, K] (any shape whose first dimension is N) of F32 / F16 / BF16, row-major ->
// a new tensor in the panel layout of `dtype` (F32 panels, or BF16 / F16 half panels; values
// converted with round to nearest even). Threaded.
Tensor pack_gemm_weight(const Tensor& w, DType dtype);
// Any GEMM weight (plain fp32 or packed) -> host F32 [N, K...] in row-major order.
Tensor unpack_gemm_weight(const Tensor& w);

// The GemmWeight of a tensor (plain fp32, or packed of either kind).
GemmWeight gemm_weight(const Tensor& w);
// Value (row, col) of weight b of [n, k], whatever its layout.
float gemm_weight_at(const GemmWeight& b, int64_t k, int64_t row, int64_t col);

// Per-call repacking for the driver when a weight is not in the layout a kernel needs:
// b [n, k] (any layout) -> fp32 panels of nr / bf16 half panels of nr. Threaded.
void repack_f32(const GemmWeight& b, int64_t n, int64_t k, int nr, float* out);
void repack_bf16(const GemmWeight& b, int64_t n, int64_t k, int nr, uint16_t* out);

int64_t packed_floats(int64_t n, int64_t k, int nr);
int64_t half_packed_elems(int64_t n, int64_t k, int nr);

}  // namespace cpu
}  // namespace indetail
