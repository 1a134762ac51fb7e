// The AMX bf16 GEMM kernel (gemm_amx.inc) on the real tile instructions (-mamx-tile -mamx-bf16).
#include <immintrin.h>

#define AMX_CONFIG(cfg) _tile_loadconfig(cfg)
#define AMX_ZERO(t) _tile_zero(t)
#define AMX_LOAD(t, base, stride) _tile_loadd(t, base, stride)
#define AMX_DP(c, a, b) _tile_dpbf16ps(c, a, b)
#define AMX_STORE(t, base, stride) _tile_stored(t, base, stride)
#define AMX_RELEASE() _tile_release()
#define AMX_TABLE gemm_amx_kernel_table
#define AMX_NAME "amx"
#include "gemm_amx.inc"
