// GroupNorm / LayerNorm kernels compiled for avx2 (see norm_kernels.inc).
#include "norm_kernels.inc"
