// Flash-attention kernel compiled for AVX512-BF16 (see attention_kernels.inc): its run_bf16 uses
// vdpbf16ps.
#include "attention_kernels.inc"
