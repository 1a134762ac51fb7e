// Elementwise kernels compiled for generic (see elementwise_kernels.inc).
#include "elementwise_kernels.inc"
