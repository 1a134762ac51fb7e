// GEMM kernels compiled for avx2 (see gemm_kernels.inc; CMakeLists.txt sets the ISA flags by file name).
#include "gemm_kernels.inc"
