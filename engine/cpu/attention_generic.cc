// Flash-attention kernel compiled for generic (see attention_kernels.inc).
#include "attention_kernels.inc"
