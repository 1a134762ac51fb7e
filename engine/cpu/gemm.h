// GEMM for the CPU backend: C[M, N] = A[M, K] · Bᵀ with B a weight [N, K], plus a fused
// epilogue. linear uses it with A = the rows of x; conv2d with A = the implicit im2col of an NHWC
// image (rows = output pixels, K = KH·KW·Cin in the weight's [Cout, KH, KW, Cin] order), so no
// im2col matrix is ever materialised.
//
// Structure (BLIS-like): B is packed once into panels of NR columns (gemm_weights.h; prepare_weight
// does this at load time), A is copied per (MC × KC) block into per-worker scratch as rows of a
// fixed stride (plain copies of contiguous runs, even for the im2col of a convolution, converted
// to bf16 on the way for the bf16 kernels), and an MR × NR register-tiled micro-kernel broadcasts
// A from its MR rows and accumulates into C. Tasks are MC-row blocks (split along N too when M is
// small). The epilogue is applied in registers when the last K block is stored, so C is written
// once.
//
// Two precisions (GemmPrecision):
//  * F32: fp32 FMAs (AVX-512: 12 × 32 tile, AVX2: 6 × 16, portable: 4 × 8). B is fp32 panels, or
//    half-precision pair panels (bf16 / f16, exact in fp32) widened one K block of one panel at a
//    time into per-worker scratch: a half-precision weight never exists as a whole fp32 copy.
//  * BF16: A and B rounded to bf16, products accumulated in fp32. With AVX512-BF16, vdpbf16ps
//    (12 × 32 tile, two K values per instruction); with AMX, 32 × 32 tiles of tdpbf16ps. Without
//    either the fp32 kernels run on the bf16-rounded operands (same numbers up to the order of
//    the fp32 additions: the bf16 results do not depend on the machine beyond rounding).
#pragma once
#include <cstdint>

#include "../backend.h"

namespace indetail {
namespace cpu {

enum class GemmPrecision { F32, BF16 };

// Row stride (in elements) of the packed A block: at least the K block, padded so that the rows
// of a tile do not all fall into the same L1 sets.
constexpr int64_t kPackLd = 528;    // fp32 rows (K blocks up to 512)
constexpr int64_t kPackLdH = 528;   // bf16 rows (K blocks up to 512, even)

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

// --- per-ISA kernels (gemm_kernels.inc / gemm_bf16_kernels.inc / gemm_amx.cc) ----------------

// One block: for every NR panel p < panels and MR tile t < tiles,
//   C[t·MR.., p·NR..] (+)= A_tile(t) · B_panel(p)   over kc steps,
// storing only rows < rows and columns < cols.
// fp32 kernels: A rows are floats kPackLd apart, B is [kc][NR] floats a panel.
// bf16 kernels: A rows are bf16 kPackLdH apart, B is [kc/2][NR][2] bf16 a panel (kc even).
// The NR columns a kernel multiplies are two vectors of W = NR/2 weight columns each: vector j of
// panel p is the W columns from b_col[j] + p·b_col_step of the weight (NR-column panels
// b_panel_stride elements apart). Plain products take whole panels (b_col {0, W}, step NR);
// GEGLU takes W columns of a and the same W columns of g (b_col {0, F}, step W).
struct GemmBlock {
  int64_t kc = 0;
  const void* a = nullptr;  // row r of the block at a + r·(row stride); tile t = rows t·MR ..
  int64_t rows = 0;
  int64_t tiles = 0;
  const void* b = nullptr;       // the weight's panels at this K block's first row
  int64_t b_panel_stride = 0;    // elements
  int64_t b_col[2] = {0, 0};     // weight columns of the two vectors of panel 0
  int64_t b_col_step = 0;        // and how far they move per panel
  int64_t cols = 0;
  int64_t panels = 0;
  float* c = nullptr;
  int64_t ldc = 0;  // also the row stride of residual and frame_bias
  bool accumulate = false;  // add to C (later K blocks) instead of overwriting it
  const GemmEpilogue* ep = nullptr;  // the last K block: apply it while storing
  int64_t row0 = 0, col0 = 0;        // where the block is in C (rows / columns of the epilogue terms)
};

// Pointer to vector j of panel p of g's B, for weight elements of `elem_per_col` per column and
// K row (1 for fp32 panels, 2 for half pair panels) in panels of nr columns.
template <typename T>
inline const T* gemm_b_vector(const GemmBlock& g, int j, int64_t p, int nr, int elem_per_col) {
  const int64_t col = g.b_col[j] + p * g.b_col_step;
  return static_cast<const T*>(g.b) + (col / nr) * g.b_panel_stride + (col % nr) * elem_per_col;
}

// fp32 kernels of one ISA.
struct GemmKernels {
  const char* isa;
  int mr, nr;
  void (*block)(const GemmBlock& g);
  // Two half-precision column vectors of one K block, src[j] pointing at W column pairs of a
  // [kc/2][nr][2] panel (bf16, or f16 when `f16`), widened to one [kc][nr] fp32 panel (kc even).
  void (*widen_panel)(const uint16_t* const src[2], bool f16, int64_t kc, float* dst);
  // dst = src rounded to bf16 (kept as floats): the A operand of the emulated bf16 precision.
  void (*round_bf16)(const float* src, float* dst, int64_t n);
};

// bf16 kernels (AVX512-BF16 or AMX).
struct GemmBf16Kernels {
  const char* isa;
  int mr, nr;
  int64_t kc;     // largest K block (a multiple of kgran, <= kPackLdH)
  int64_t kgran;  // K blocks are multiples of this (but the last)
  void (*block)(const GemmBlock& g);
  // dst = src rounded to bf16 (round to nearest even), n values.
  void (*to_bf16)(const float* src, uint16_t* dst, int64_t n);
};

namespace isa_avx512 { const GemmKernels& gemm_kernel_table(); }
namespace isa_avx2 { const GemmKernels& gemm_kernel_table(); }
namespace isa_generic { const GemmKernels& gemm_kernel_table(); }
namespace isa_avx512bf16 { const GemmBf16Kernels& gemm_bf16_kernel_table(); }
namespace isa_amx { const GemmBf16Kernels& gemm_amx_kernel_table(); }
// The AMX kernel on a software model of the tiles (gemm_amx_emulation.h), for tests on CPUs without
// AMX: INDETAIL_AMX_EMULATE=1 selects it in place of the AVX512-BF16 one.
namespace isa_avx512bf16 { const GemmBf16Kernels& gemm_amx_emulated_kernel_table(); }

// The fp32 table for cpu_level().
const GemmKernels& gemm_kernels();
// The bf16 table for cpu_level(), or nullptr below avx512bf16.
const GemmBf16Kernels* gemm_bf16_kernels();

// --- the driver ------------------------------------------------------------------------------

// The A operand: plain rows (x[m * lda + k]) or, when kh > 0, the implicit im2col of an NHWC image
// x [frames, h, w, c] for output pixels m = (frame, oy, ox) of an [frames, ho, wo] grid and
// k = (ky, kx, ci), reading zero outside the image.
struct GemmA {
  const float* x = nullptr;
  const uint16_t* xb = nullptr;  // the same values in bf16 instead of x (for the bf16 precision)
  int64_t m = 0, k = 0;
  int64_t lda = 0;
  int64_t h = 0, w = 0, c = 0, ho = 0, wo = 0;
  int kh = 0, kw = 0, stride = 1, pad = 0;
};

// B: a weight [N, K] as stored (gemm_weights.h): plain fp32, fp32 panels or half pair panels.
struct GemmWeight {
  const void* data = nullptr;
  DType dtype = DType::F32;
  uint32_t layout = 0;
};

// c [M, N] (row stride N) = epilogue(A · Bᵀ) in precision `prec`; scratch comes from `backend`'s
// allocator. c must not alias A's data or the residual.
void gemm(Backend& backend, GemmPrecision prec, const GemmA& a, const GemmWeight& b, int64_t n, float* c,
          const GemmEpilogue& ep);

// out [M, F] = a · gelu(g) with [a | g] = A · Bᵀ + bias, B = w [2F, K]: the GEGLU projection
// without writing the 2F-wide product (bias [2F] or null; out must not alias A).
void gemm_geglu(Backend& backend, GemmPrecision prec, const GemmA& a, const GemmWeight& w, int64_t f,
                const float* bias, float* out);

}  // namespace cpu
}  // namespace indetail
