// The bf16 GEMM micro-kernel for AVX512-BF16 (compiled with -mavx512bf16; see gemm.h for the
// layouts). vdpbf16ps multiplies the two bf16 values of each 32-bit lane of A and B and adds both
// products to an fp32 accumulator: per pair of K steps it loads NV = 2 B vectors (16 column
// pairs each) and broadcasts one bf16 pair from each of the MR = 12 A rows, i.e. 24
// dot products (64 flops each, twice an fp32 FMA) for 2 + 12 loads; the accumulators stay fp32
// and the tile is stored through the fp32 epilogue (gemm_epilogue.inc).
#include "gemm.h"
#include "simd_bf16.h"

namespace indetail {
namespace cpu {
namespace INDETAIL_ISA {

namespace {

constexpr int MR = 12;
constexpr int NV = 2;
constexpr int NR = NV * W;
// K block: a B micro-panel (KC × 32 bf16, 24 KiB) and an A tile (12 × KC, 9 KiB) stay in a
// 32 KiB L1 (Zen 4); measured best of 256 / 384 / 512 on Zen 4.
constexpr int64_t KC = 384;
static_assert(KC % 2 == 0 && KC <= kPackLdH, "K blocks of whole pairs that fit a packed row");

#include "gemm_epilogue.inc"

void micro_kernel(const GemmBlock& g, const uint16_t* __restrict a, const uint16_t* __restrict b0,
                  const uint16_t* __restrict b1, int64_t row, int64_t col, int rows, int cols) {
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[r][j] = vzero();
  const bf16_pair_t* ap = reinterpret_cast<const bf16_pair_t*>(a);
  constexpr int64_t lda = kPackLdH / 2;  // in pairs
  for (int64_t k = 0; k < g.kc; k += 2) {
    const __m512bh bv[NV] = {(__m512bh)_mm512_loadu_si512(b0), (__m512bh)_mm512_loadu_si512(b1)};
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(ap[r * lda]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[r][j].v = _mm512_dpbf16_ps(acc[r][j].v, av, bv[j]);
    }
    ap += 1;
    b0 += 2 * NR;
    b1 += 2 * NR;
  }
  store_tile<MR>(acc, g, row, col, rows, cols);
}

void block(const GemmBlock& g) {
  const uint16_t* a = static_cast<const uint16_t*>(g.a);
  for (int64_t p = 0; p < g.panels; ++p) {
    const uint16_t* b0 = gemm_b_vector<uint16_t>(g, 0, p, NR, 2);
    const uint16_t* b1 = gemm_b_vector<uint16_t>(g, 1, p, NR, 2);
    int64_t cols = g.cols - p * NR;
    if (cols > NR) cols = NR;
    for (int64_t t = 0; t < g.tiles; ++t) {
      int64_t rows = g.rows - t * MR;
      if (rows > MR) rows = MR;
      micro_kernel(g, a + t * MR * kPackLdH, b0, b1, g.row0 + t * MR, g.col0 + p * NR, (int)rows, (int)cols);
    }
  }
}

void to_bf16(const float* src, uint16_t* dst, int64_t n) { floats_to_bf16(src, dst, n); }

}  // namespace

const GemmBf16Kernels& gemm_bf16_kernel_table() {
  static const GemmBf16Kernels table = {INDETAIL_ISA_NAME, MR, NR, KC, 2, block, to_bf16};
  return table;
}

}  // namespace INDETAIL_ISA
}  // namespace cpu
}  // namespace indetail
