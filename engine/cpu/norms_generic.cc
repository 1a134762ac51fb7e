// GroupNorm / LayerNorm kernels compiled for generic (see norm_kernels.inc).
#include "norm_kernels.inc"
