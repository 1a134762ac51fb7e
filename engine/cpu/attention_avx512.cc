// Flash-attention kernel compiled for avx512 (see attention_kernels.inc).
#include "attention_kernels.inc"
