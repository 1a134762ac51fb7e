// SGEMM for the CPU backend: C[M, N] = A[M, K] · Bᵀ with B a weight [N, K], plus a fused
// epilogue. linear uses it with A = the rows of x; conv2d with A = the implicit im2col of an NHWC
// image (rows = output pixels, K = KH·KW·Cin in the weight's [Cout, KH, KW, Cin] order), so no
// im2col matrix is ever materialised.
//
// Structure (BLIS-like): B is packed once into panels of NR columns ([panel][K][NR], zero-padded;
// prepare_weight does this at load time), A is copied per (MC × KC) block into per-worker scratch
// as rows of a fixed stride (kPackLd: plain copies of contiguous runs, even for the im2col of a
// convolution), and an MR × NR register-tiled micro-kernel (AVX-512: 12 × 32, AVX2: 6 × 16,
// portable: 4 × 8) broadcasts A from its MR rows and accumulates into C. Tasks are MC-row blocks
// (split along N too when M is small). The epilogue is applied in registers when the last K
// block is stored, so C is written once.
#pragma once
#include <cstdint>

#include "../backend.h"

namespace indetail {
namespace cpu {

// Row stride of the packed A block: at least the K block (512), padded so that the rows of a tile
// do not all fall into the same L1 sets.
constexpr int64_t kPackLd = 528;

// c = (act(c + bias + frame_bias) + residual) * scale, fused into the store of the last K block.
struct GemmEpilogue {
  const float* bias = nullptr;        // [N]
  const float* frame_bias = nullptr;  // [frames, N]: row m uses frame m / rows_per_frame
  int64_t rows_per_frame = 1;
  const float* residual = nullptr;    // [M, N]; must not alias c
  Activation act = Activation::None;  // before the residual
  float scale = 1.0f;                 // after everything
  // GEGLU instead (gemm_geglu): B panels hold W columns of a and the same W columns of g, and
  // the last K block stores a · gelu(g) (bias: [2F], a's then g's) to geglu_out [M, F].
  float* geglu_out = nullptr;
  int64_t geglu_f = 0;
};

// --- per-ISA kernels (gemm_kernels.inc, compiled by gemm_avx512.cc / gemm_avx2.cc / gemm_generic.cc)

// One block: for every NR panel p < panels and MR tile t < tiles,
//   C[t·MR.., p·NR..] (+)= A_tile(t) · B_panel(p)   over kc steps,
// storing only rows < rows and columns < cols.
struct GemmBlock {
  int64_t kc = 0;
  const float* a = nullptr;  // row r of the block at a + r·kPackLd (tile t = rows t·MR ..)
  int64_t rows = 0;
  int64_t tiles = 0;
  const float* b = nullptr;      // panel p at b + p·b_panel_stride, [kc][NR]
  int64_t b_panel_stride = 0;
  int64_t cols = 0;
  int64_t panels = 0;
  float* c = nullptr;
  int64_t ldc = 0;  // also the row stride of residual and frame_bias
  bool accumulate = false;  // add to C (later K blocks) instead of overwriting it
  const GemmEpilogue* ep = nullptr;  // the last K block: apply it while storing
  int64_t row0 = 0, col0 = 0;        // where the block is in C (rows / columns of the epilogue terms)
};

struct GemmKernels {
  const char* isa;
  int mr, nr;
  void (*block)(const GemmBlock& g);
};

namespace isa_avx512 { const GemmKernels& gemm_kernel_table(); }
namespace isa_avx2 { const GemmKernels& gemm_kernel_table(); }
namespace isa_generic { const GemmKernels& gemm_kernel_table(); }

// The table for cpu_level().
const GemmKernels& gemm_kernels();

// --- packed weights ------------------------------------------------------------------------

// Layout tag of a weight packed in panels of nr columns (Tensor::layout()); 0 = row-major [N, K].
uint32_t packed_layout(int nr);
// nr of a packed layout tag, or 0 when the tag is not a packed layout.
int packed_nr(uint32_t layout);
int64_t packed_floats(int64_t n, int64_t k, int nr);
// w [n, k] row-major -> panels; and back.
void pack_weight(const float* w, int64_t n, int64_t k, int nr, float* out);
void unpack_weight(const float* packed, int64_t n, int64_t k, int nr, float* out);

// --- the driver ------------------------------------------------------------------------------

// The A operand: plain rows (x[m * lda + k]) or, when kh > 0, the implicit im2col of an NHWC image
// x [frames, h, w, c] for output pixels m = (frame, oy, ox) of an [frames, ho, wo] grid and
// k = (ky, kx, ci), reading zero outside the image.
struct GemmA {
  const float* x = nullptr;
  int64_t m = 0, k = 0;
  int64_t lda = 0;
  int64_t h = 0, w = 0, c = 0, ho = 0, wo = 0;
  int kh = 0, kw = 0, stride = 1, pad = 0;
};

// c [M, N] (row stride N) = epilogue(A · Bᵀ). b is [N, K] in `b_layout` (0 or a packed tag);
// scratch comes from `backend`'s allocator. c must not alias A's data or the residual.
void gemm(Backend& backend, const GemmA& a, const float* b, uint32_t b_layout, int64_t n, float* c,
          const GemmEpilogue& ep);

// out [M, F] = a · gelu(g) with [a | g] = A · Bᵀ + bias, B = w [2F, K] in `w_layout`: the GEGLU
// projection without writing the 2F-wide product (bias [2F] or null; out must not alias A).
void gemm_geglu(Backend& backend, const GemmA& a, const float* w, uint32_t w_layout, int64_t f, const float* bias,
                float* out);

}  // namespace cpu
}  // namespace indetail
