// GroupNorm / LayerNorm kernels compiled for avx512 (see norm_kernels.inc).
#include "norm_kernels.inc"
