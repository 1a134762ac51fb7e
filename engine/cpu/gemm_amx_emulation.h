// A software model of the AMX tile registers and the instructions gemm_amx.inc uses, written from
// the pseudo-code of the Intel® Architecture Instruction Set Extensions Programming Reference
// (LDTILECFG, TILEZERO, TILELOADD, TDPBF16PS, TILESTORED, TILERELEASE), so that the AMX kernel's
// tile indexing runs, and is tested, on CPUs without AMX. Scalar and slow: tests only.
#pragma once
#include <cstdint>
#include <cstring>

#include "../core/dtype.h"

namespace indetail {
namespace cpu {
namespace amx_emulation {

struct Tiles {
  uint8_t rows[8] = {};
  uint16_t colsb[8] = {};
  alignas(64) uint8_t data[8][16][64] = {};
};

static inline Tiles& tiles() {
  static thread_local Tiles t;
  return t;
}

// LDTILECFG: palette 1, colsb[i] at bytes 16 + 2i, rows[i] at byte 48 + i; tiles are zeroed.
static inline void config(const void* cfg) {
  const uint8_t* c = static_cast<const uint8_t*>(cfg);
  Tiles& t = tiles();
  for (int i = 0; i < 8; ++i) {
    std::memcpy(&t.colsb[i], c + 16 + 2 * i, 2);
    t.rows[i] = c[48 + i];
  }
  std::memset(t.data, 0, sizeof(t.data));
}

static inline void zero(int i) { std::memset(tiles().data[i], 0, sizeof(tiles().data[i])); }

// TILELOADD: row r of tile i <- colsb bytes at base + r·stride; the rest of the row is zeroed.
static inline void load(int i, const void* base, int64_t stride) {
  Tiles& t = tiles();
  zero(i);
  for (int r = 0; r < t.rows[i]; ++r) std::memcpy(t.data[i][r], static_cast<const char*>(base) + r * stride, t.colsb[i]);
}

// TILESTORED: colsb bytes of row r -> base + r·stride.
static inline void store(int i, void* base, int64_t stride) {
  Tiles& t = tiles();
  for (int r = 0; r < t.rows[i]; ++r) std::memcpy(static_cast<char*>(base) + r * stride, t.data[i][r], t.colsb[i]);
}

// TDPBF16PS dst, a, b: for each row m of dst and K pair k < a.colsb / 4, for each n < dst.colsb / 4:
//   dst[m][n] += a[m].bf16[2k] · b[k].bf16[2n];  dst[m][n] += a[m].bf16[2k+1] · b[k].bf16[2n+1]
static inline void dpbf16ps(int dst, int a, int b) {
  Tiles& t = tiles();
  for (int m = 0; m < t.rows[dst]; ++m) {
    float row[16];
    std::memcpy(row, t.data[dst][m], sizeof(row));
    const uint16_t* ar = reinterpret_cast<const uint16_t*>(t.data[a][m]);
    for (int k = 0; k < t.colsb[a] / 4; ++k) {
      const uint16_t* br = reinterpret_cast<const uint16_t*>(t.data[b][k]);
      for (int n = 0; n < t.colsb[dst] / 4; ++n) {
        row[n] += bf16_to_f32(ar[2 * k]) * bf16_to_f32(br[2 * n]);
        row[n] += bf16_to_f32(ar[2 * k + 1]) * bf16_to_f32(br[2 * n + 1]);
      }
    }
    std::memcpy(t.data[dst][m], row, sizeof(row));
  }
}

}  // namespace amx_emulation
}  // namespace cpu
}  // namespace indetail
