// The throughput loop of one zmm instruction, in assembly so that nothing else runs: 24
// independent accumulators (enough to cover the latency on two pipes), zero operands (no
// denormals). INDETAIL_ZMM_LOOP("vfmadd231ps", n) runs n iterations of 24 instructions. Include
// only from a file compiled for an ISA that has the instruction (peak_avx512*.cc).
#pragma once

// clang-format off
#define INDETAIL_ZMM_LOOP(OP, n) \
  __asm__ volatile( \
      "vxorps %%xmm0, %%xmm0, %%xmm0\n\t" \
      "vxorps %%xmm1, %%xmm1, %%xmm1\n\t" \
      "vxorps %%xmm2, %%xmm2, %%xmm2\n\t" \
      "vxorps %%xmm3, %%xmm3, %%xmm3\n\t" \
      "vxorps %%xmm4, %%xmm4, %%xmm4\n\t" \
      "vxorps %%xmm5, %%xmm5, %%xmm5\n\t" \
      "vxorps %%xmm6, %%xmm6, %%xmm6\n\t" \
      "vxorps %%xmm7, %%xmm7, %%xmm7\n\t" \
      "vxorps %%xmm8, %%xmm8, %%xmm8\n\t" \
      "vxorps %%xmm9, %%xmm9, %%xmm9\n\t" \
      "vxorps %%xmm10, %%xmm10, %%xmm10\n\t" \
      "vxorps %%xmm11, %%xmm11, %%xmm11\n\t" \
      "vxorps %%xmm12, %%xmm12, %%xmm12\n\t" \
      "vxorps %%xmm13, %%xmm13, %%xmm13\n\t" \
      "vxorps %%xmm14, %%xmm14, %%xmm14\n\t" \
      "vxorps %%xmm15, %%xmm15, %%xmm15\n\t" \
      "vxorps %%xmm16, %%xmm16, %%xmm16\n\t" \
      "vxorps %%xmm17, %%xmm17, %%xmm17\n\t" \
      "vxorps %%xmm18, %%xmm18, %%xmm18\n\t" \
      "vxorps %%xmm19, %%xmm19, %%xmm19\n\t" \
      "vxorps %%xmm20, %%xmm20, %%xmm20\n\t" \
      "vxorps %%xmm21, %%xmm21, %%xmm21\n\t" \
      "vxorps %%xmm22, %%xmm22, %%xmm22\n\t" \
      "vxorps %%xmm23, %%xmm23, %%xmm23\n\t" \
      "vxorps %%xmm30, %%xmm30, %%xmm30\n\t" \
      "vxorps %%xmm31, %%xmm31, %%xmm31\n\t" \
      "1:\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm0\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm1\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm2\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm3\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm4\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm5\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm6\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm7\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm8\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm9\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm10\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm11\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm12\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm13\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm14\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm15\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm16\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm17\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm18\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm19\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm20\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm21\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm22\n\t" \
      OP " %%zmm30, %%zmm31, %%zmm23\n\t" \
      "dec %0\n\t" \
      "jnz 1b\n\t" \
      : "+r"(n) \
      : \
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm30", "xmm31", "cc")
// clang-format on
