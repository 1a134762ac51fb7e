#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../core/dtype.h"
#include "../core/threadpool.h"
#include "cpu_features.h"
#include "gemm_weights.h"
#include "parallel.h"

namespace indetail {
namespace cpu {

namespace {

// Block sizes of the fp32 kernels, tuned on Zen 5 (48 KiB L1, 1 MiB L2 per core): K blocks of up
// to 512 (most SD linears then need one, so C is written once; a B micro-panel streams from L2),
// M blocks of 192 rows (the packed A block, 192 × 528 floats, stays in L2). The bf16 kernels
// choose their own K block (GemmBf16Kernels::kc).
constexpr int64_t kKC = 512;
constexpr int64_t kMC = 192;
static_assert(kKC <= kPackLd, "packed rows hold a K block");

// How one product runs: which kernels, and what they get.
struct Plan {
  const GemmKernels* f32 = nullptr;      // fp32 kernels, or
  const GemmBf16Kernels* bf16 = nullptr;  // bf16 kernels
  int mr = 0, nr = 0;
  int64_t kc = 0;         // largest K block
  int64_t kgran = 1;      // K blocks are multiples of this (but the last)
  bool half_b = false;    // B is half pair panels (else fp32 panels)
  bool widen = false;     // fp32 kernels on half panels, widened per K block and panel
  bool f16_b = false;     // those half panels hold f16 (else bf16)
  bool round_a = false;   // emulated bf16: A rounded to bf16 while packed
};

// The kernels for `prec` on this CPU.
Plan plan_for(GemmPrecision prec) {
  Plan p;
  const GemmBf16Kernels* bk = prec == GemmPrecision::BF16 ? gemm_bf16_kernels() : nullptr;
  if (bk) {
    p.bf16 = bk;
    p.mr = bk->mr;
    p.nr = bk->nr;
    p.kc = bk->kc;
    p.kgran = bk->kgran;
    p.half_b = true;
  } else {
    p.f32 = &gemm_kernels();
    p.mr = p.f32->mr;
    p.nr = p.f32->nr;
    p.kc = kKC;
    p.round_a = prec == GemmPrecision::BF16;
  }
  return p;
}

// Copies rows [m0, m0 + rows) × columns [k0, k0 + kc) of A (its values at x: a.x or a.xb) into
// dst (row stride ld), converted by `put` (put(src, dst, n) for contiguous runs), zero-filling
// columns up to kc_end and rows up to `padded_rows` (the last tile's rows past M).
template <typename S, typename T, typename Put>
void pack_a(const GemmA& a, const S* x, int64_t m0, int64_t rows, int64_t padded_rows, int64_t k0, int64_t kc,
            int64_t kc_end, T* dst, int64_t ld, Put put) {
  if (a.kh == 0) {
    for (int64_t r = 0; r < rows; ++r) put(x + (m0 + r) * a.lda + k0, dst + r * ld, kc);
  } else {
    // Implicit im2col: k runs over (ky, kx) taps of Cin contiguous channels each.
    const int64_t pix = a.ho * a.wo;
    int64_t frame = m0 / pix, oy = (m0 % pix) / a.wo, ox = m0 % a.wo;
    for (int64_t r = 0; r < rows; ++r) {
      T* d = dst + r * ld;
      const S* img = x + frame * a.h * a.w * a.c;
      const int64_t iy0 = oy * a.stride - a.pad, ix0 = ox * a.stride - a.pad;
      int64_t k = k0;
      const int64_t end = k0 + kc;
      while (k < end) {
        const int64_t tap = k / a.c, ci = k - tap * a.c;
        const int64_t len = std::min(a.c - ci, end - k);
        const int64_t iy = iy0 + tap / a.kw, ix = ix0 + tap % a.kw;
        if (iy >= 0 && iy < a.h && ix >= 0 && ix < a.w)
          put(img + (iy * a.w + ix) * a.c + ci, d + (k - k0), len);
        else
          std::memset(d + (k - k0), 0, (size_t)len * sizeof(T));
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
  if (kc_end > kc)
    for (int64_t r = 0; r < rows; ++r) std::memset(dst + r * ld + kc, 0, (size_t)(kc_end - kc) * sizeof(T));
  for (int64_t r = rows; r < padded_rows; ++r) std::memset(dst + r * ld, 0, (size_t)kc_end * sizeof(T));
}

// Packs the A block of one task for the plan's kernels into `scratch`: fp32 or bf16 rows (bf16
// rounding kept as floats for the fp32 kernels in the bf16 precision), from fp32 or bf16 values.
void pack_block(const Plan& pl, const GemmA& a, int64_t m0, int64_t rows, int64_t padded_rows, int64_t k0, int64_t kc,
                int64_t kc_end, void* scratch) {
  uint16_t* to16 = static_cast<uint16_t*>(scratch);
  float* to32 = static_cast<float*>(scratch);
  auto pack = [&](auto x, auto dst, int64_t ld, auto put) { pack_a(a, x, m0, rows, padded_rows, k0, kc, kc_end, dst, ld, put); };
  if (a.xb && pl.bf16) {
    pack(a.xb, to16, kPackLdH, [](const uint16_t* s, uint16_t* d, int64_t n) { std::memcpy(d, s, (size_t)n * 2); });
  } else if (a.xb) {
    pack(a.xb, to32, kPackLd, [](const uint16_t* s, float* d, int64_t n) {
      for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i]);
    });
  } else if (pl.bf16) {
    auto to_bf16 = pl.bf16->to_bf16;
    pack(a.x, to16, kPackLdH, [to_bf16](const float* s, uint16_t* d, int64_t n) { to_bf16(s, d, n); });
  } else if (pl.round_a) {
    auto round = pl.f32->round_bf16;
    pack(a.x, to32, kPackLd, [round](const float* s, float* d, int64_t n) { round(s, d, n); });
  } else {
    pack(a.x, to32, kPackLd, [](const float* s, float* d, int64_t n) { std::memcpy(d, s, (size_t)n * sizeof(float)); });
  }
}

// How many column blocks a product of m rows over `panels` B panels is split into: more than
// one when there are too few row blocks to keep every thread busy (and, for GEGLU, so that a
// block's partial sums stay in L2). Each column block packs the A block again.
int64_t column_blocks(const Plan& pl, int64_t m, int64_t panels, bool geglu) {
  const int64_t m_blocks = ceil_div(m, std::min(kMC, round_up(m, pl.mr)));
  int64_t n = 1;
  const int64_t want = 2 * (int64_t)num_threads();
  if (m_blocks < want) n = std::min(panels, ceil_div(want, m_blocks));
  if (geglu) n = std::max(n, ceil_div(panels, 8));
  return n;
}

// For the bf16 kernels: when A's rows would be packed (and rounded) once per column block, round
// them to bf16 once instead (into `held`, which keeps the copy alive for the call).
GemmA with_bf16_rows(Backend& backend, const Plan& pl, const GemmA& a, int64_t panels, bool geglu, Tensor& held) {
  if (!pl.bf16 || a.xb || a.kh != 0 || a.lda != a.k || column_blocks(pl, a.m, panels, geglu) <= 1) return a;
  held = backend.empty(DType::BF16, {a.m, a.k});
  uint16_t* dst = held.data<uint16_t>();
  auto to_bf16 = pl.bf16->to_bf16;
  parallel_for(a.m * a.k, 1 << 15, [&](int64_t b, int64_t e) { to_bf16(a.x + b, dst + b, e - b); });
  GemmA r = a;
  r.xb = dst;
  return r;
}

// The geometry of one blocked product (run_blocks), shared by its tasks.
struct BlockRun {
  const Plan* pl;
  const GemmA* a;
  const GemmEpilogue* ep;
  const char* b;           // the B panels
  float* c;
  int64_t n, panels, g_cols;
  int64_t mc, n_blocks, pn;  // rows per task; column blocks of pn panels
  int64_t kc_blk, k_blocks, kp;
  size_t b_elem;           // bytes of a B element
  int64_t a_floats, c_floats, per_worker;  // per-worker scratch: A block, GEGLU partial sums, widened panel
  bool any_epilogue;
};

// One task of run_blocks: rows [m0, m0 + mc) × one column block, every K block.
void run_task(const BlockRun& r, int64_t task, float* mine) {
  const Plan& pl = *r.pl;
  const int mr = pl.mr, nr = pl.nr;
  const int64_t m = r.a->m, k = r.a->k;
  const int64_t mb = task / r.n_blocks, nb = task % r.n_blocks;
  const int64_t m0 = mb * r.mc, rows = std::min(r.mc, m - m0), tiles = ceil_div(rows, mr);
  const int64_t p0 = nb * r.pn, np = std::min(r.pn, r.panels - p0), n0 = p0 * nr;
  float* a_pack = mine;
  float* widened = mine + r.a_floats + r.c_floats;
  GemmBlock g;
  g.a = a_pack;
  g.rows = rows;
  g.tiles = tiles;
  g.b_panel_stride = r.kp * nr;
  const int64_t w = nr / 2, step = r.g_cols ? w : nr;  // columns of a vector; per panel
  g.b_col[0] = p0 * step;
  g.b_col[1] = (r.g_cols ? r.g_cols : w) + p0 * step;
  g.b_col_step = step;
  g.panels = np;
  g.row0 = m0;
  g.col0 = n0;
  if (r.ep->geglu_out) {  // partial sums of full panels in scratch (local coordinates)
    g.cols = np * nr;
    g.c = mine + r.a_floats;
    g.ldc = np * nr;
  } else {
    g.cols = std::min(np * nr, r.n - n0);
    g.c = r.c + m0 * r.n + n0;
    g.ldc = r.n;
  }
  // One pass per K block (a single empty one when K = 0: C is then the epilogue of zeros).
  for (int64_t kb = 0; kb < r.k_blocks; ++kb) {
    const int64_t k0 = kb * r.kc_blk, kc = std::min(r.kc_blk, k - k0);
    const int64_t kc_end = pl.bf16 ? round_up(kc, 2) : kc;
    if (kc > 0) pack_block(pl, *r.a, m0, rows, tiles * mr, k0, kc, kc_end, a_pack);
    g.kc = kc_end;
    g.accumulate = kb > 0;
    g.ep = r.any_epilogue && kb == r.k_blocks - 1 ? r.ep : nullptr;
    g.b = r.b + (size_t)(k0 * nr) * r.b_elem;  // K row k0 of every panel
    if (!pl.widen) {
      (pl.bf16 ? pl.bf16->block : pl.f32->block)(g);
      continue;
    }
    // One panel at a time, widened to fp32 for this K block.
    for (int64_t q = 0; q < np; ++q) {
      const uint16_t* src[2] = {gemm_b_vector<uint16_t>(g, 0, q, nr, 2), gemm_b_vector<uint16_t>(g, 1, q, nr, 2)};
      pl.f32->widen_panel(src, pl.f16_b, round_up(kc, 2), widened);
      GemmBlock gq = g;
      gq.b = widened;
      gq.b_col[0] = 0;
      gq.b_col[1] = w;
      gq.b_col_step = nr;
      gq.panels = 1;
      gq.cols = std::min<int64_t>(nr, g.cols - q * nr);
      gq.c = g.c + q * nr;
      gq.col0 = g.col0 + q * nr;
      pl.f32->block(gq);
    }
  }
}

// The blocked product over B panels that are already in the plan's layout. Plain mode:
// c [M, n] = epilogue(A · Bᵀ), panel p = weight columns [p·NR, p·NR + NR) (g_cols = 0). GEGLU
// mode (ep.geglu_out): panel p = W columns of a and the same W columns of g, either read in place
// from the weight's panels (g_cols = F: columns p·W.. and F + p·W..) or from panels built that way
// (g_cols = 0); partial sums in per-worker scratch until the last K block stores a · gelu(g).
void run_blocks(Backend& backend, const Plan& pl, const GemmA& a, const void* bp, int64_t panels, int64_t n, float* c,
                const GemmEpilogue& ep, int64_t g_cols = 0) {
  const int mr = pl.mr, nr = pl.nr;
  const int64_t m = a.m, k = a.k;
  const bool geglu = ep.geglu_out != nullptr;
  BlockRun r;
  r.pl = &pl;
  r.a = &a;
  r.ep = &ep;
  r.b = static_cast<const char*>(bp);
  r.c = c;
  r.n = n;
  r.panels = panels;
  r.g_cols = g_cols;
  r.mc = std::min(kMC, round_up(m, mr));
  r.pn = ceil_div(panels, column_blocks(pl, m, panels, geglu));
  r.n_blocks = ceil_div(panels, r.pn);
  const int64_t tasks = ceil_div(m, r.mc) * r.n_blocks;
  // K blocks of equal size (at most pl.kc; whole pairs for half panels, whole tile steps for the
  // bf16 kernels), so that the last one is not a sliver.
  r.kc_blk = k > 0 ? ceil_div(k, ceil_div(k, pl.kc)) : 1;
  r.kc_blk = round_up(r.kc_blk, std::max<int64_t>(pl.kgran, pl.half_b || pl.widen ? 2 : 1));
  r.k_blocks = k > 0 ? ceil_div(k, r.kc_blk) : 1;
  r.kp = pl.half_b || pl.widen ? round_up(k, 2) : k;  // K of a B panel
  r.b_elem = pl.half_b || pl.widen ? 2 : 4;
  r.a_floats = pl.bf16 ? round_up(r.mc, mr) * kPackLdH / 2 : round_up(r.mc, mr) * kPackLd;
  r.c_floats = geglu && r.k_blocks > 1 ? round_up(r.mc, mr) * r.pn * nr : 0;
  r.per_worker = r.a_floats + r.c_floats + (pl.widen ? r.kc_blk * nr : 0);
  r.any_epilogue = geglu || ep.bias || ep.frame_bias || ep.residual || ep.act != Activation::None || ep.scale != 1.0f;
  Tensor scratch = backend.empty({std::max<int64_t>(1, task_workers(tasks) * r.per_worker)});
  parallel_tasks(tasks, [&](int64_t task, int worker) { run_task(r, task, scratch.data<float>() + worker * r.per_worker); });
}

// Whether w is already in the panels `pl` reads (for half panels on the fp32 kernels: setting the
// plan to widen them); if not, the driver repacks it.
bool fits_plan(Plan& pl, const GemmWeight& w) {
  const int have_nr = packed_nr(w.layout);
  if (have_nr != pl.nr) return false;
  if (pl.bf16) return is_half_packed(w.layout) && w.dtype == DType::BF16;
  if (!is_half_packed(w.layout)) return !pl.round_a;  // fp32 panels, exact precision only
  if (pl.round_a && w.dtype != DType::BF16) return false;
  pl.widen = true;
  pl.f16_b = w.dtype == DType::F16;
  return true;
}

}  // namespace

const GemmKernels& gemm_kernels() {
  static const GemmKernels& k = kernels_for_level(isa_avx512::gemm_kernel_table(), isa_avx2::gemm_kernel_table(),
                                                  isa_generic::gemm_kernel_table());
  return k;
}

const GemmBf16Kernels* gemm_bf16_kernels() {
  static const GemmBf16Kernels* k = [] {
    const char* emulate = std::getenv("INDETAIL_AMX_EMULATE");
    if (cpu_level() >= CpuLevel::AMX) return &isa_amx::gemm_amx_kernel_table();
    if (cpu_level() < CpuLevel::AVX512BF16) return static_cast<const GemmBf16Kernels*>(nullptr);
    if (emulate && std::string(emulate) == "1") return &isa_avx512bf16::gemm_amx_emulated_kernel_table();
    return &isa_avx512bf16::gemm_bf16_kernel_table();
  }();
  return k;
}

void gemm(Backend& backend, GemmPrecision prec, const GemmA& a, const GemmWeight& b, int64_t n, float* c,
          const GemmEpilogue& ep) {
  if (a.m == 0 || n == 0) return;
  Plan pl = plan_for(prec);
  // B as panels of the plan's kernels: prepared weights already are; others are repacked per call
  // (bf16 half panels for the bf16 precision, fp32 panels otherwise).
  Tensor b_scratch;
  const void* bp = b.data;
  if (!fits_plan(pl, b)) {
    if (prec == GemmPrecision::BF16) {
      b_scratch = backend.empty(DType::BF16, {half_packed_elems(n, a.k, pl.nr)});
      repack_bf16(b, n, a.k, pl.nr, b_scratch.data<uint16_t>());
      pl.widen = !pl.bf16;
      pl.f16_b = false;
    } else {
      b_scratch = backend.empty({packed_floats(n, a.k, pl.nr)});
      repack_f32(b, n, a.k, pl.nr, b_scratch.data<float>());
    }
    bp = b_scratch.raw();
  }
  GemmEpilogue e = ep;
  e.geglu_out = nullptr;
  Tensor rows16;
  run_blocks(backend, pl, with_bf16_rows(backend, pl, a, ceil_div(n, pl.nr), false, rows16), bp, ceil_div(n, pl.nr), n, c,
             e);
}

void gemm_geglu(Backend& backend, GemmPrecision prec, const GemmA& a, const GemmWeight& w, int64_t f,
                const float* bias, float* out) {
  Plan pl = plan_for(prec);
  const int nr = pl.nr, half = nr / 2;
  const int64_t k = a.k;
  if (a.m == 0 || f == 0) return;
  const int64_t panels = ceil_div(f, half);
  GemmEpilogue ep;
  ep.bias = bias;
  ep.geglu_out = out;
  ep.geglu_f = f;
  // A prepared weight is read in place: panel p takes columns p·W.. of a and F + p·W.. of g.
  Tensor rows16;
  if (f % half == 0 && fits_plan(pl, w)) {
    run_blocks(backend, pl, with_bf16_rows(backend, pl, a, panels, true, rows16), w.data, panels, 2 * f, out, ep, f);
    return;
  }
  // Otherwise panels of `half` columns of a followed by the same columns of g (zero past F): a
  // copy of the weight per call; bf16 half panels for the bf16 precision.
  const bool half_b = prec == GemmPrecision::BF16;
  const int64_t kp = half_b ? round_up(k, 2) : k;
  Tensor bt = backend.empty(half_b ? DType::BF16 : DType::F32, {std::max<int64_t>(1, panels * kp * nr)});
  parallel_for(panels, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t p = b0; p < b1; ++p) {
      for (int j = 0; j < nr; ++j) {
        const int64_t col = p * half + j % half;
        const int64_t row = j < half ? col : f + col;
        if (half_b) {
          uint16_t* dst = bt.data<uint16_t>() + p * kp * nr;
          for (int64_t i = 0; i < kp; ++i)
            dst[(i / 2) * nr * 2 + j * 2 + (i & 1)] = col < f && i < k ? f32_to_bf16(gemm_weight_at(w, k, row, i)) : 0;
        } else {
          float* dst = bt.data<float>() + p * k * nr;
          for (int64_t i = 0; i < k; ++i) dst[i * nr + j] = col < f ? gemm_weight_at(w, k, row, i) : 0.0f;
        }
      }
    }
  });
  pl.widen = half_b && !pl.bf16;
  pl.f16_b = false;
  run_blocks(backend, pl, with_bf16_rows(backend, pl, a, panels, true, rows16), bt.raw(), panels, 2 * f, out, ep);
}

}  // namespace cpu
}  // namespace indetail
