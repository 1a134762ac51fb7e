// Elementwise kernels compiled for avx512 (see elementwise_kernels.inc).
#include "elementwise_kernels.inc"
