// Elementwise kernels compiled for avx2 (see elementwise_kernels.inc).
#include "elementwise_kernels.inc"
