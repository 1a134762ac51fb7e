#include "gemm.h"

#include <algorithm>
#include <cstring>

#include "../core/threadpool.h"
#include "cpu_features.h"
#include "parallel.h"

namespace indetail {
namespace cpu {

namespace {

constexpr uint32_t kPackedTag = 0x47500000u;  // "GP" + nr in the low bits
constexpr int64_t kKC = 256;                  // K block: one B micro-panel (256 × NR floats) stays in L1
constexpr int64_t kMC = 192;                  // M block: the packed A block (192 × 256 floats) stays in L2

// Packs rows [m0, m0 + tiles·MR) × columns [k0, k0 + kc) of A into [tile][kc][mr]; rows past M are 0.
void pack_a(const GemmA& a, int64_t m0, int64_t tiles, int64_t k0, int64_t kc, int mr, float* dst) {
  for (int64_t t = 0; t < tiles; ++t) {
    float* tile = dst + t * mr * kc;
    for (int r = 0; r < mr; ++r) {
      int64_t m = m0 + t * mr + r;
      float* d = tile + r;
      if (m >= a.m) {
        for (int64_t k = 0; k < kc; ++k) d[k * mr] = 0.0f;
        continue;
      }
      if (a.kh == 0) {
        const float* s = a.x + m * a.lda + k0;
        for (int64_t k = 0; k < kc; ++k) d[k * mr] = s[k];
        continue;
      }
      // Implicit im2col: k runs over (ky, kx) taps of Cin contiguous channels each.
      int64_t pix = a.ho * a.wo;
      int64_t frame = m / pix, rem = m % pix;
      int64_t iy0 = (rem / a.wo) * a.stride - a.pad, ix0 = (rem % a.wo) * a.stride - a.pad;
      const float* img = a.x + frame * a.h * a.w * a.c;
      int64_t k = k0, end = k0 + kc;
      while (k < end) {
        int64_t tap = k / a.c, ci = k % a.c;
        int64_t len = std::min(a.c - ci, end - k);
        int64_t iy = iy0 + tap / a.kw, ix = ix0 + tap % a.kw;
        float* dk = d + (k - k0) * mr;
        if (iy >= 0 && iy < a.h && ix >= 0 && ix < a.w) {
          const float* s = img + (iy * a.w + ix) * a.c + ci;
          for (int64_t j = 0; j < len; ++j) dk[j * mr] = s[j];
        } else {
          for (int64_t j = 0; j < len; ++j) dk[j * mr] = 0.0f;
        }
        k += len;
      }
    }
  }
}

}  // namespace

const GemmKernels& gemm_kernels() {
  static const GemmKernels& k = cpu_level() == CpuLevel::AVX512 ? isa_avx512::gemm_kernel_table()
                                : cpu_level() == CpuLevel::AVX2 ? isa_avx2::gemm_kernel_table()
                                                                 : isa_generic::gemm_kernel_table();
  return k;
}

uint32_t packed_layout(int nr) { return kPackedTag | (uint32_t)nr; }

int packed_nr(uint32_t layout) { return (layout & 0xfff00000u) == kPackedTag ? (int)(layout & 0xfffffu) : 0; }

int64_t packed_floats(int64_t n, int64_t k, int nr) { return ceil_div(n, nr) * nr * k; }

void pack_weight(const float* w, int64_t n, int64_t k, int nr, float* out) {
  int64_t panels = ceil_div(n, nr);
  parallel_for(panels, 1, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      float* dst = out + p * k * nr;
      for (int j = 0; j < nr; ++j) {
        int64_t row = p * nr + j;
        if (row < n) {
          const float* s = w + row * k;
          for (int64_t i = 0; i < k; ++i) dst[i * nr + j] = s[i];
        } else {
          for (int64_t i = 0; i < k; ++i) dst[i * nr + j] = 0.0f;
        }
      }
    }
  });
}

void unpack_weight(const float* packed, int64_t n, int64_t k, int nr, float* out) {
  parallel_for(n, 16, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const float* s = packed + (row / nr) * k * nr + row % nr;
      for (int64_t i = 0; i < k; ++i) out[row * k + i] = s[i * nr];
    }
  });
}

void gemm(Backend& backend, const GemmA& a, const float* b, uint32_t b_layout, int64_t n, float* c,
          const GemmEpilogue& ep) {
  const GemmKernels& kt = gemm_kernels();
  const int mr = kt.mr, nr = kt.nr;
  const int64_t m = a.m, k = a.k;
  if (m == 0 || n == 0) return;

  // B as panels of this kernel's width: prepared weights already are.
  Tensor b_scratch;
  const float* bp = b;
  int have_nr = packed_nr(b_layout);
  if (have_nr != nr) {
    b_scratch = backend.empty({packed_floats(n, k, nr)});
    if (have_nr == 0) {
      pack_weight(b, n, k, nr, b_scratch.data<float>());
    } else {  // packed for another kernel width (not expected within one process)
      Tensor plain = backend.empty({n, k});
      unpack_weight(b, n, k, have_nr, plain.data<float>());
      pack_weight(plain.data<float>(), n, k, nr, b_scratch.data<float>());
    }
    bp = b_scratch.data<float>();
  }

  const int64_t mc = std::min(kMC, round_up(m, mr));
  const int64_t m_blocks = ceil_div(m, mc);
  const int64_t panels = ceil_div(n, nr);
  // Split N as well when there are too few row blocks to keep every thread busy.
  int64_t n_blocks = 1;
  int64_t want = 2 * (int64_t)num_threads();
  if (m_blocks < want) n_blocks = std::min(panels, ceil_div(want, m_blocks));
  const int64_t pn = ceil_div(panels, n_blocks);
  n_blocks = ceil_div(panels, pn);
  const int64_t tasks = m_blocks * n_blocks;
  const int workers = task_workers(tasks);
  const int64_t kc_max = std::min(kKC, std::max<int64_t>(k, 1));
  const int64_t a_floats = mc * kc_max;
  Tensor a_scratch = backend.empty({workers * a_floats});
  const bool any_epilogue = ep.bias || ep.frame_bias || ep.residual || ep.act != Activation::None || ep.scale != 1.0f;

  parallel_tasks(tasks, [&](int64_t task, int worker) {
    const int64_t mb = task / n_blocks, nb = task % n_blocks;
    const int64_t m0 = mb * mc, rows = std::min(mc, m - m0), tiles = ceil_div(rows, mr);
    const int64_t p0 = nb * pn, np = std::min(pn, panels - p0), n0 = p0 * nr, cols = std::min(np * nr, n - n0);
    float* a_pack = a_scratch.data<float>() + worker * a_floats;
    float* c_blk = c + m0 * n + n0;
    if (k == 0) {
      for (int64_t r = 0; r < rows; ++r) std::memset(c_blk + r * n, 0, (size_t)cols * sizeof(float));
    }
    for (int64_t k0 = 0; k0 < k; k0 += kKC) {
      const int64_t kc = std::min(kKC, k - k0);
      pack_a(a, m0, tiles, k0, kc, mr, a_pack);
      GemmBlock g;
      g.kc = kc;
      g.a = a_pack;
      g.rows = rows;
      g.tiles = tiles;
      g.b = bp + p0 * k * nr + k0 * nr;
      g.b_panel_stride = k * nr;
      g.cols = cols;
      g.panels = np;
      g.c = c_blk;
      g.ldc = n;
      g.accumulate = k0 > 0;
      kt.block(g);
    }
    if (!any_epilogue) return;
    GemmRowEpilogue e;
    e.bias = ep.bias ? ep.bias + n0 : nullptr;
    e.act = ep.act;
    e.scale = ep.scale;
    for (int64_t r = 0; r < rows; ++r) {
      int64_t row = m0 + r;
      e.row_bias = ep.frame_bias ? ep.frame_bias + (row / ep.rows_per_frame) * n + n0 : nullptr;
      e.residual = ep.residual ? ep.residual + row * n + n0 : nullptr;
      kt.epilogue_row(c_blk + r * n, cols, e);
    }
  });
}

}  // namespace cpu
}  // namespace indetail
