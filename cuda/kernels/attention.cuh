// Fused attention with the image-prompt policy (DESIGN.md §1, AttentionParams in engine/backend.h).
//
// One launch computes, for every query frame b and head h, softmax attention over up to two key
// segments: the reference frame's keys (frame ref[b] of k/v, or of k_ref/v_ref when a cache is
// given) and the frame's own keys. Per mode:
//   none / ref[b] < 0 : own keys
//   concat            : one online softmax over [ref ; own]
//   stratified        : two online softmaxes, out = w_ref * O_ref + w_self * O_own
//   replace           : ref keys only
// Two kernel families share these arguments:
//   attention_flash_d*.cu  FlashAttention-2 style, tensor cores; needs head_dim % 8 == 0, <= 256,
//                          16-byte aligned rows (row strides, column offsets and bases % 8 elements)
//   attention_simple.cu    one warp per query row, F32 CUDA cores; any layout, head_dim <= 512
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../engine/backend.h"
#include "../../engine/core/dtype.h"

namespace indetail {
namespace cuda {

enum AttnMode : int { kAttnNone = 0, kAttnConcat = 1, kAttnStratified = 2, kAttnReplace = 3 };

// Per-frame references travel in the kernel parameters (no host->device copy, graph-capturable).
constexpr int kAttnMaxRefFrames = 1024;

struct AttnArgs {
  // Element pointers with the column window and nothing else applied: head h of row i of frame b
  // of q starts at q + b * q_frame + i * q_row + h * head_dim.
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* k_ref = nullptr;  // nullptr: ref[b] indexes the frames of k/v (ref[b] == b: plain)
  const void* v_ref = nullptr;
  void* out = nullptr;          // [frames, q_len, heads * head_dim], contiguous
  int64_t q_frame = 0, q_row = 0;
  int64_t k_frame = 0, k_row = 0;
  int64_t v_frame = 0, v_row = 0;
  int64_t kr_frame = 0, kr_row = 0;
  int64_t vr_frame = 0, vr_row = 0;
  int frames = 0, heads = 0, head_dim = 0;
  int q_len = 0, k_len = 0, ref_len = 0;  // ref_len: rows of k_ref/v_ref (k_len without a cache)
  int mode = kAttnNone;
  int causal = 0;                 // own keys j <= query i (reference keys are never masked)
  float scale_log2 = 0.f;         // softmax scale * log2(e); > 0
  float w_ref = 0.f, w_self = 0.f;  // stratified: lambda / (lambda_ref + lambda_self)
  float* stash = nullptr;         // stratified scratch in global memory, nullptr = shared memory
  int has_ref = 0;                // 0: every frame attends to its own keys only
  int16_t ref[kAttnMaxRefFrames];  // per frame: reference frame or -1 (valid when has_ref)
};

// The op's arguments checked and turned into kernel arguments (cuda/attention_op.cu); throws
// InvalidArgument naming the tensor or field that is wrong.
struct AttnPrepared {
  AttnArgs args;
  DType dtype = DType::F16;
  bool any_ref = false;   // some frame attends to a reference (mode != none)
  bool flash_ok = false;  // the layout fits the flash kernel
  bool empty = false;     // no query rows: nothing to compute
};
AttnPrepared prepare_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref,
                               const Tensor* v_ref, const Tensor& out, const AttentionParams& p);

// Tile configuration of one head-dim group of the flash kernel.
struct FlashConfig {
  int dmax;          // head dims up to this (multiples of 8) use the group
  int variant;       // tile variant (0 = default)
  int block_rows;    // queries per CTA (16 per warp row-tile, 4 warps)
  int block_keys;    // keys per pipeline stage
  int smem_bytes;    // Q + K + V tiles
  int stash_bytes;   // extra shared (or global, per CTA) F32 bytes for stratified attention
};

// Head-dim group of the flash kernel for head_dim (0 when the flash kernel cannot take it).
inline int flash_group(int head_dim) {
  if (head_dim <= 0 || head_dim % 8 != 0) return 0;
  if (head_dim <= 64) return 64;
  if (head_dim <= 96) return 96;
  if (head_dim <= 160) return 160;
  if (head_dim <= 256) return 256;
  return 0;
}
// Per-group entry points (one translation unit each: attention_flash_d<DMAX>.cu). `variant`
// selects a tile shape (0 = default; unknown variants fall back to 0). a.stash must point to
// global scratch of grid CTAs * stash_bytes when stash_in_smem is false (stratified only).
template <int DMAX>
FlashConfig flash_group_config(int variant);
template <int DMAX>
void launch_flash_group(const AttnArgs& a, DType dtype, bool stash_in_smem, int variant, cudaStream_t stream);
extern template FlashConfig flash_group_config<64>(int);
extern template FlashConfig flash_group_config<96>(int);
extern template FlashConfig flash_group_config<160>(int);
extern template FlashConfig flash_group_config<256>(int);
extern template void launch_flash_group<64>(const AttnArgs&, DType, bool, int, cudaStream_t);
extern template void launch_flash_group<96>(const AttnArgs&, DType, bool, int, cudaStream_t);
extern template void launch_flash_group<160>(const AttnArgs&, DType, bool, int, cudaStream_t);
extern template void launch_flash_group<256>(const AttnArgs&, DType, bool, int, cudaStream_t);
// Dispatch by head dim (flash_group(head_dim) must be non-zero).
FlashConfig flash_config(int head_dim, int variant);
void launch_flash_attention(const AttnArgs& a, DType dtype, bool stash_in_smem, int variant, cudaStream_t stream);

void launch_attention_simple(const AttnArgs& a, DType dtype, cudaStream_t stream);
constexpr int kAttnSimpleMaxHeadDim = 512;

}  // namespace cuda
}  // namespace indetail
