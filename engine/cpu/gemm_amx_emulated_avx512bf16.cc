// The AMX bf16 GEMM kernel (gemm_amx.inc) on the software tiles of gemm_amx_emulation.h, compiled
// for AVX512-BF16: tests the AMX kernel's tile indexing on CPUs without AMX (INDETAIL_AMX_EMULATE=1).
#include "gemm_amx_emulation.h"

#define AMX_CONFIG(cfg) amx_emulation::config(cfg)
#define AMX_ZERO(t) amx_emulation::zero(t)
#define AMX_LOAD(t, base, stride) amx_emulation::load(t, base, stride)
#define AMX_DP(c, a, b) amx_emulation::dpbf16ps(c, a, b)
#define AMX_STORE(t, base, stride) amx_emulation::store(t, base, stride)
#define AMX_RELEASE() ((void)0)
#define AMX_TABLE gemm_amx_emulated_kernel_table
#define AMX_NAME "amx (emulated)"
#include "gemm_amx.inc"
