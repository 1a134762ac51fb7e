// Flash-attention kernel compiled for avx2 (see attention_kernels.inc).
#include "attention_kernels.inc"
