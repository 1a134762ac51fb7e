// Per-ISA flash-attention kernel (attention_kernels.inc; the op and its image-prompt policy are in
// attention.cc). One call computes one head of a block of queries of one frame against up to
// two key/value sources, each feeding one of up to two online-softmax accumulators:
//   plain / Replace: one source, one accumulator;   Concat: two sources, one accumulator;
//   Stratified: two sources, two accumulators mixed at the end with weights w.
#pragma once
#include <cstdint>

namespace indetail {
namespace cpu {

struct AttnSource {
  const float* k = nullptr;  // key j of this head at k + j·k_ld
  int64_t k_ld = 0;
  const float* v = nullptr;
  int64_t v_ld = 0;
  int64_t len = 0;
  bool causal = false;  // key j is visible to query position i only when j <= i
  int acc = 0;          // accumulator it feeds
  // bf16 precision: the same keys and values already in the bf16 tile layouts (pack_bf16), or
  // null to pack them per task.
  const void* kv16 = nullptr;
};

struct AttnTask {
  const float* q = nullptr;  // query i of this head at q + i·q_ld
  int64_t q_ld = 0;
  int64_t nq = 0;     // queries in this block
  int64_t q_pos = 0;  // position of the first query in its frame (causal mask)
  AttnSource src[2];
  int nsrc = 0;
  int nacc = 1;
  float w[2] = {1.0f, 0.0f};  // out = Σ_a w[a]·softmax_a·V / Σ_a w[a]
  float* out = nullptr;       // query i at out + i·out_ld
  int64_t out_ld = 0;
  int64_t d = 0;  // head dimension
  float scale = 1.0f;
  float* scratch = nullptr;  // scratch_floats(d) floats
};

struct AttentionKernels {
  int64_t (*max_queries)(int64_t d);     // queries per task for head dimension d
  int64_t (*scratch_floats)(int64_t d);  // per worker
  void (*run)(const AttnTask& t);
  // The bf16 precision (even d): Q, K, V and the probabilities rounded to bf16, fp32
  // accumulation and softmax statistics; vdpbf16ps in the AVX512-BF16 table.
  void (*run_bf16)(const AttnTask& t);
  // AVX512-BF16 table only (else null): the len keys and values of one head (rows k_ld / v_ld
  // apart) in the tile layouts run_bf16 reads, once for every task that attends to them, into
  // kv16_bytes(len, d) bytes.
  void (*pack_bf16)(const float* k, int64_t k_ld, const float* v, int64_t v_ld, int64_t len, int64_t d, void* kv16);
  int64_t (*kv16_bytes)(int64_t len, int64_t d);
};

namespace isa_avx512bf16 { const AttentionKernels& attention_kernel_table(); }
namespace isa_avx512 { const AttentionKernels& attention_kernel_table(); }
namespace isa_avx2 { const AttentionKernels& attention_kernel_table(); }
namespace isa_generic { const AttentionKernels& attention_kernel_table(); }
// The table for cpu_level() (its vector ISA), and for the bf16 precision (the AVX512-BF16 table
// when the CPU multiplies bf16, else the same).
const AttentionKernels& attention_kernels();
const AttentionKernels& attention_bf16_kernels();

}  // namespace cpu
}  // namespace indetail
