// The tensor-core tile engine behind linear, linear_geglu and conv2d: out = epilogue(A · Bᵀ)
// where A [M, K] is the implicit im2col view of an NHWC input (a linear layer is a 1×1 conv
// over a [1, 1, M, K] "image") and B [Nv, K] the weight rows ([Cout, KH, KW, Cin] for a conv).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../engine/core/dtype.h"

namespace indetail {
namespace cuda {

// What happens to an F32 accumulator tile before it is stored (one place for both the GEMM
// and the split-K reduction):
//   plain: y = (act(acc + bias[c] + frame_bias[m / rows_per_frame, c]) + residual[m, c]) * out_scale
//   geglu: virtual columns come in pairs (a, g) = (2c, 2c+1); y = (acc_a + bias[c]) * gelu(acc_g + bias[F + c])
struct Epilogue {
  void* out = nullptr;                // [M, n_out], compute dtype
  const float* bias = nullptr;        // [Nv] F32 (weight-row order), optional
  const void* frame_bias = nullptr;   // [M / rows_per_frame, n_out], compute dtype, optional
  int rows_per_frame = 1;
  const void* residual = nullptr;     // [M, n_out], compute dtype, optional (may alias out)
  int act = 0;                        // ActCode
  float out_scale = 1.0f;
  int geglu = 0;
  int n_out = 0;                      // Nv, or Nv / 2 with geglu
  int vec = 0;                        // n_out % 8 == 0 and out/residual/frame_bias 16-byte aligned
};

enum NormKind : int { kNormNone = 0, kNormGroup = 1, kNormLayer = 2 };

struct GemmArgs {
  const void* x = nullptr;  // [N, H, W, C]
  const void* w = nullptr;  // [weight rows, K]
  int N = 1, H = 1, W = 1, C = 1;
  int KH = 1, KW = 1, stride = 1, pad = 0;
  int Ho = 1, Wo = 1;
  int M = 0, Nv = 0, K = 0;  // M = N*Ho*Wo, K = KH*KW*C
  int geglu = 0;             // virtual column v reads weight row (v odd ? Nv/2 + v/2 : v/2)
  int vec_a = 0, vec_b = 0;  // 16-byte cp.async allowed (C % 8 == 0 / K % 8 == 0, aligned bases)
  int splits = 1, k_tiles_per_split = 0;
  float* workspace = nullptr;  // [splits, M, ws_ld] F32 partial sums when splits > 1
  int ws_ld = 0;
  // A normalisation of x applied while it is read (the Hopper kernel only; norm_apply.cuh):
  //   kNormGroup: norm = (scale, shift) per frame and channel, float2 [N, C] (launch_group_norm_stats),
  //               then SiLU when norm_silu
  //   kNormLayer: norm = (mean, rstd) per pixel (row) of x, float2 [N·H·W] (launch_layer_norm_stats),
  //               then norm_gamma, norm_beta [C]
  int norm_kind = 0;
  const float2* norm = nullptr;
  const float* norm_gamma = nullptr;
  const float* norm_beta = nullptr;
  int norm_silu = 0;
  Epilogue ep;
};

// The tile shape, fixed for every problem (one instantiation per compute dtype).
constexpr int kGemmBM = 128, kGemmBN = 128, kGemmBK = 32, kGemmStages = 4, kGemmThreads = 128;

// A kernel's output tile (rows x virtual columns) and the K elements of one k-tile.
struct GemmTile {
  int bm, bn, bk;
};
constexpr GemmTile kGemmTile{kGemmBM, kGemmBN, kGemmBK};

struct SplitPlan {
  int splits = 1;
  int k_tiles_per_split = 0;
  int ws_ld = 0;  // row stride of the workspace (Nv rounded up to 8)
};

// Chooses split-K so that small-M problems still fill the device (see the .cu for the model), for
// a kernel with `tile` whose K loop has `k_tiles` steps (0: ceil(K / tile.bk)).
SplitPlan plan_split_k(int M, int Nv, int K, int num_sms, GemmTile tile = kGemmTile, int k_tiles = 0);

// Split-K planned from the rows of one frame times a fixed frame count, never from the batch:
// the split decides the summation order, so a frame's result must not depend on how many frames
// share the batch (the image-prompt cache drops one and relies on the others keeping their bits).
constexpr int64_t kSplitPlanFrames = 2;
SplitPlan plan_split_k_per_frame(int64_t rows_per_frame, int Nv, int K, int num_sms, GemmTile tile = kGemmTile,
                                 int k_tiles = 0);

// Launches the GEMM (and the split-K reduction when a.splits > 1) on `stream`.
void launch_implicit_gemm(DType dtype, const GemmArgs& a, cudaStream_t stream);

// Sums the a.splits F32 partial tiles of a.workspace (virtual columns, GEGLU pairs interleaved)
// and runs the epilogue: the second pass of every split-K GEMM.
void launch_splitk_reduce(DType dtype, const GemmArgs& a, cudaStream_t stream);

}  // namespace cuda
}  // namespace indetail
