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
// Block sizes, tuned on Zen 5 (48 KiB L1, 1 MiB L2 per core): K blocks of up to 512 (most SD
// linears then need one, so C is written once; a B micro-panel streams from L2), M blocks of 192
// rows (the packed A block, 192 × 528 floats, stays in L2).
constexpr int64_t kKC = 512;
constexpr int64_t kMC = 192;
static_assert(kKC <= kPackLd, "packed rows hold a K block");

// Copies rows [m0, m0 + rows) × columns [k0, k0 + kc) of A into dst (row stride kPackLd) and
// zero rows up to `padded_rows` (the last tile's rows past M).
void pack_a(const GemmA& a, int64_t m0, int64_t rows, int64_t padded_rows, int64_t k0, int64_t kc, float* dst) {
  const size_t row_bytes = (size_t)kc * sizeof(float);
  if (a.kh == 0) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * kPackLd, a.x + (m0 + r) * a.lda + k0, row_bytes);
  } else {
    // Implicit im2col: k runs over (ky, kx) taps of Cin contiguous channels each.
    const int64_t pix = a.ho * a.wo;
    int64_t frame = m0 / pix, oy = (m0 % pix) / a.wo, ox = m0 % a.wo;
    for (int64_t r = 0; r < rows; ++r) {
      float* d = dst + r * kPackLd;
      const float* img = a.x + frame * a.h * a.w * a.c;
      const int64_t iy0 = oy * a.stride - a.pad, ix0 = ox * a.stride - a.pad;
      int64_t k = k0;
      const int64_t end = k0 + kc;
      while (k < end) {
        const int64_t tap = k / a.c, ci = k - tap * a.c;
        const int64_t len = std::min(a.c - ci, end - k);
        const int64_t iy = iy0 + tap / a.kw, ix = ix0 + tap % a.kw;
        if (iy >= 0 && iy < a.h && ix >= 0 && ix < a.w)
          std::memcpy(d + (k - k0), img + (iy * a.w + ix) * a.c + ci, (size_t)len * sizeof(float));
        else
          std::memset(d + (k - k0), 0, (size_t)len * sizeof(float));
        k += len;
      }
      if (++ox == a.wo) {
        ox = 0;
        if (++oy == a.ho) {
          oy = 0;
          ++frame;
        }
      }
    }
  }
  for (int64_t r = rows; r < padded_rows; ++r) std::memset(dst + r * kPackLd, 0, row_bytes);
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

namespace {

// Value (row, col) of a weight [n, k] stored plain or in panels of `nr` (0 = plain).
inline float weight_at(const float* w, int64_t k, int nr, int64_t row, int64_t col) {
  return nr ? w[(row / nr) * k * nr + col * nr + row % nr] : w[row * k + col];
}

// The blocked product over B panels that are already in this kernel's layout. Plain mode:
// c [M, n] = epilogue(A · Bᵀ). GEGLU mode (ep.geglu_out): panels of W a- and W g-columns,
// partial sums in per-worker scratch until the last K block stores a · gelu(g).
void run_blocks(Backend& backend, const GemmA& a, const float* bp, int64_t panels, int64_t n, float* c,
                const GemmEpilogue& ep) {
  const GemmKernels& kt = gemm_kernels();
  const int mr = kt.mr, nr = kt.nr;
  const int64_t m = a.m, k = a.k;
  const bool geglu = ep.geglu_out != nullptr;

  const int64_t mc = std::min(kMC, round_up(m, mr));
  const int64_t m_blocks = ceil_div(m, mc);
  // Split N as well when there are too few row blocks to keep every thread busy (and, for GEGLU,
  // so that a block's partial sums stay in L2).
  int64_t n_blocks = 1;
  int64_t want = 2 * (int64_t)num_threads();
  if (m_blocks < want) n_blocks = std::min(panels, ceil_div(want, m_blocks));
  if (geglu) n_blocks = std::max(n_blocks, ceil_div(panels, 8));
  const int64_t pn = ceil_div(panels, n_blocks);
  n_blocks = ceil_div(panels, pn);
  const int64_t tasks = m_blocks * n_blocks;
  const int workers = task_workers(tasks);
  // K blocks of equal size (at most kKC), so that the last one is not a sliver.
  const int64_t kc_blk = k > 0 ? ceil_div(k, ceil_div(k, kKC)) : 1;
  const int64_t k_blocks = k > 0 ? ceil_div(k, kc_blk) : 1;
  const int64_t a_floats = round_up(mc, mr) * kPackLd;
  Tensor a_scratch = backend.empty({workers * a_floats});
  const int64_t c_floats = geglu && k_blocks > 1 ? round_up(mc, mr) * pn * nr : 0;
  Tensor c_scratch = backend.empty({std::max<int64_t>(1, workers * c_floats)});
  const bool any_epilogue =
      geglu || ep.bias || ep.frame_bias || ep.residual || ep.act != Activation::None || ep.scale != 1.0f;

  parallel_tasks(tasks, [&](int64_t task, int worker) {
    const int64_t mb = task / n_blocks, nb = task % n_blocks;
    const int64_t m0 = mb * mc, rows = std::min(mc, m - m0), tiles = ceil_div(rows, mr);
    const int64_t p0 = nb * pn, np = std::min(pn, panels - p0), n0 = p0 * nr;
    float* a_pack = a_scratch.data<float>() + worker * a_floats;
    GemmBlock g;
    g.a = a_pack;
    g.rows = rows;
    g.tiles = tiles;
    g.b_panel_stride = k * nr;
    g.panels = np;
    g.row0 = m0;
    g.col0 = n0;
    if (geglu) {  // partial sums of full panels in scratch (local coordinates)
      g.cols = np * nr;
      g.c = c_scratch.data<float>() + worker * c_floats;
      g.ldc = np * nr;
    } else {
      g.cols = std::min(np * nr, n - n0);
      g.c = c + m0 * n + n0;
      g.ldc = n;
    }
    // One pass per K block (a single empty one when K = 0: C is then the epilogue of zeros).
    for (int64_t kb = 0; kb < k_blocks; ++kb) {
      const int64_t k0 = kb * kc_blk, kc = std::min(kc_blk, k - k0);
      if (kc > 0) pack_a(a, m0, rows, tiles * mr, k0, kc, a_pack);
      g.kc = kc;
      g.b = bp + p0 * k * nr + k0 * nr;
      g.accumulate = kb > 0;
      g.ep = any_epilogue && kb == k_blocks - 1 ? &ep : nullptr;
      kt.block(g);
    }
  });
}

}  // namespace

void gemm(Backend& backend, const GemmA& a, const float* b, uint32_t b_layout, int64_t n, float* c,
          const GemmEpilogue& ep) {
  const int nr = gemm_kernels().nr;
  if (a.m == 0 || n == 0) return;
  // B as panels of this kernel's width: prepared weights already are.
  Tensor b_scratch;
  const float* bp = b;
  const int have_nr = packed_nr(b_layout);
  if (have_nr != nr) {
    b_scratch = backend.empty({packed_floats(n, a.k, nr)});
    if (have_nr == 0) {
      pack_weight(b, n, a.k, nr, b_scratch.data<float>());
    } else {  // packed for another kernel width (not expected within one process)
      Tensor plain = backend.empty({n, a.k});
      unpack_weight(b, n, a.k, have_nr, plain.data<float>());
      pack_weight(plain.data<float>(), n, a.k, nr, b_scratch.data<float>());
    }
    bp = b_scratch.data<float>();
  }
  GemmEpilogue e = ep;
  e.geglu_out = nullptr;
  run_blocks(backend, a, bp, ceil_div(n, nr), n, c, e);
}

void gemm_geglu(Backend& backend, const GemmA& a, const float* w, uint32_t w_layout, int64_t f, const float* bias,
                float* out) {
  const GemmKernels& kt = gemm_kernels();
  const int nr = kt.nr, half = nr / 2;
  const int64_t k = a.k;
  if (a.m == 0 || f == 0) return;
  // Panels of `half` columns of a followed by the same columns of g (zero past F): a copy of the
  // weight per call, small next to the product.
  const int64_t panels = ceil_div(f, half);
  Tensor bt = backend.empty({std::max<int64_t>(1, panels * k * nr)});
  float* bp = bt.data<float>();
  const int src_nr = packed_nr(w_layout);
  parallel_for(panels, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t p = b0; p < b1; ++p) {
      float* dst = bp + p * k * nr;
      for (int j = 0; j < nr; ++j) {
        const int64_t col = p * half + j % half;
        const int64_t row = j < half ? col : f + col;
        if (col < f)
          for (int64_t i = 0; i < k; ++i) dst[i * nr + j] = weight_at(w, k, src_nr, row, i);
        else
          for (int64_t i = 0; i < k; ++i) dst[i * nr + j] = 0.0f;
      }
    }
  });
  GemmEpilogue ep;
  ep.bias = bias;
  ep.geglu_out = out;
  ep.geglu_f = f;
  run_blocks(backend, a, bp, panels, 2 * f, out, ep);
}

}  // namespace cpu
}  // namespace indetail
