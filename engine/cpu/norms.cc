// group_norm and layer_norm. Statistics are exact to float rounding: partial sums of at most 64
// values in float (shifted by a sample of the data, so a large mean does not swamp them),
// accumulated in double; the variance from centred squares (two passes), never E[x²] - mean²;
// and what rounding the mean to float loses is put back into the shift of the affine step.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/threadpool.h"
#include "cpu_backend.h"
#include "cpu_features.h"
#include "group_norm.h"
#include "norm_kernels.h"
#include "op_util.h"
#include "parallel.h"

namespace indetail {

namespace cpu {
const NormKernels& norm_kernels() {
  static const NormKernels& k = kernels_for_level(isa_avx512::norm_kernel_table(), isa_avx2::norm_kernel_table(),
                                      isa_generic::norm_kernel_table());
  return k;
}
}  // namespace cpu

namespace cpu {

GroupNormCoefficients group_norm_coefficients(CpuBackend& be, const char* op, const Tensor& x, const Tensor& gamma,
                                              const Tensor& beta, const GroupNormParams& p) {
  check_f32(op, "x", x);
  check_f32(op, "gamma", gamma);
  check_f32(op, "beta", beta);
  check_arg(x.dim() >= 2, op, ": x must be [N, H, W, C] (or [N, ..., C]), got ", x.describe());
  const int64_t frames = x.size(0), c = x.size(-1);
  const int64_t pixels = frames ? x.numel() / (frames * std::max<int64_t>(c, 1)) : 0;
  check_arg(p.groups >= 1 && c % p.groups == 0, op, ": groups ", p.groups, " must divide the ", c, " channels of ",
            x.describe());
  check_shape(op, "gamma", gamma, {c});
  check_shape(op, "beta", beta, {c});
  check_arg(p.eps >= 0 && std::isfinite(p.eps), op, ": eps must be a finite non-negative number, got ", p.eps);
  GroupNormCoefficients r;
  r.pixels = pixels;
  r.center = be.empty({frames, c});  // per channel: its group's mean, rounded to float
  r.scale = be.empty({frames, c});   // rstd(group) · gamma
  r.shift = be.empty({frames, c});   // beta, less what rounding the mean to float lost
  if (x.numel() == 0) return r;
  const NormKernels& kern = norm_kernels();
  const int64_t groups = p.groups, cg = c / groups;

  // Tasks: (frame, chunk of pixels); each leaves per-channel double sums in its own row.
  const int64_t chunk = std::max<int64_t>(256, ceil_div(pixels, 64));
  const int64_t chunks = ceil_div(pixels, chunk), tasks = frames * chunks;
  Tensor partial_t = be.empty(DType::I64, {tasks, c});  // doubles
  double* partial = reinterpret_cast<double*>(partial_t.raw());
  const int workers = task_workers(tasks);
  Tensor tmp_t = be.empty({(int64_t)workers, c});
  const float* xd = x.data<float>();
  float* center = r.center.data<float>();
  std::vector<double> stats(frames * groups);

  // Σ over each group of (x - ref[c]) (squared), divided by the group's element count.
  auto group_sums = [&](auto ref_of_frame, bool squared) {
    parallel_tasks(tasks, [&](int64_t t, int w) {
      int64_t f = t / chunks, p0 = (t % chunks) * chunk, np = std::min(chunk, pixels - p0);
      double* s = partial + t * c;
      std::fill(s, s + c, 0.0);
      kern.channel_sums(xd + (f * pixels + p0) * c, np, c, ref_of_frame(f), squared, s, tmp_t.data<float>() + w * c);
    });
    for (int64_t f = 0; f < frames; ++f) {
      for (int64_t g = 0; g < groups; ++g) {
        double s = 0.0;
        for (int64_t t = f * chunks; t < (f + 1) * chunks; ++t)
          for (int64_t j = g * cg; j < (g + 1) * cg; ++j) s += partial[t * c + j];
        if (!squared)  // sums were taken relative to the frame's first pixel
          for (int64_t j = g * cg; j < (g + 1) * cg; ++j) s += (double)pixels * xd[f * pixels * c + j];
        stats[f * groups + g] = s / ((double)pixels * (double)cg);
      }
    }
  };

  // Pass 1: means, with sums shifted by the first pixel so that a large mean costs no precision.
  group_sums([&](int64_t f) { return xd + f * pixels * c; }, false);
  std::vector<double> mean = stats;
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t j = 0; j < c; ++j) center[f * c + j] = (float)mean[f * groups + j / cg];
  // Pass 2: variances from squares centred on the float mean m̃ (they carry (m - m̃)², removed).
  group_sums([&](int64_t f) { return center + f * c; }, true);
  const float* gm = gamma.data<float>();
  const float* bt = beta.data<float>();
  for (int64_t f = 0; f < frames; ++f) {
    for (int64_t g = 0; g < groups; ++g) {
      double m = mean[f * groups + g], delta = m - (double)(float)m;
      double v = std::max(0.0, stats[f * groups + g] - delta * delta);
      double rstd = 1.0 / std::sqrt(v + (double)p.eps);
      for (int64_t j = g * cg; j < (g + 1) * cg; ++j) {
        double sc = rstd * gm[j];
        r.scale.data<float>()[f * c + j] = (float)sc;
        r.shift.data<float>()[f * c + j] = (float)(bt[j] - delta * sc);
      }
    }
  }
  return r;
}

void group_norm_apply(const GroupNormCoefficients& k, const Tensor& x, bool silu, void* out, bool bf16_out) {
  const NormKernels& kern = norm_kernels();
  const int64_t frames = x.size(0), c = x.size(-1), pixels = k.pixels;
  if (x.numel() == 0) return;
  const int64_t chunk = std::max<int64_t>(256, ceil_div(pixels, 64));
  const int64_t chunks = ceil_div(pixels, chunk);
  const float* xd = x.data<float>();
  const float* cd = k.center.data<float>();
  const float* sd = k.scale.data<float>();
  const float* hd = k.shift.data<float>();
  parallel_tasks(frames * chunks, [&](int64_t t, int) {
    int64_t f = t / chunks, p0 = (t % chunks) * chunk, np = std::min(chunk, pixels - p0);
    int64_t off = (f * pixels + p0) * c;
    if (bf16_out)
      kern.affine_bf16(xd + off, static_cast<uint16_t*>(out) + off, np, c, cd + f * c, sd + f * c, hd + f * c, silu);
    else
      kern.affine(xd + off, static_cast<float*>(out) + off, np, c, cd + f * c, sd + f * c, hd + f * c, silu);
  });
}

void store_bf16(const Tensor& x, uint16_t* out) {
  const NormKernels& kern = norm_kernels();
  const float* xd = x.data<float>();
  parallel_for(x.numel(), 1 << 16, [&](int64_t b, int64_t e) { kern.to_bf16(xd + b, out + b, e - b); });
}

}  // namespace cpu

void CpuBackend::group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& out,
                            const GroupNormParams& p) {
  using namespace cpu;
  check_f32("group_norm", "out", out);
  check_same_shape("group_norm", "x", x, "out", out);
  GroupNormCoefficients k = group_norm_coefficients(*this, "group_norm", x, gamma, beta, p);
  group_norm_apply(k, x, p.silu, out.raw(), false);
}

void CpuBackend::layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& out, float eps) {
  using namespace cpu;
  const char* op = "layer_norm";
  check_f32(op, "x", x);
  check_f32(op, "gamma", gamma);
  check_f32(op, "beta", beta);
  check_f32(op, "out", out);
  check_arg(x.dim() >= 1, "layer_norm: x must be [..., C], got ", x.describe());
  check_same_shape(op, "x", x, "out", out);
  const int64_t c = x.size(-1);
  check_shape(op, "gamma", gamma, {c});
  check_shape(op, "beta", beta, {c});
  check_arg(eps >= 0 && std::isfinite(eps), "layer_norm: eps must be a finite non-negative number, got ", eps);
  if (x.numel() == 0) return;
  const int64_t rows = x.numel() / c;
  const NormKernels& kern = norm_kernels();
  const float* xd = x.data<float>();
  float* yd = out.data<float>();
  const float* g = gamma.data<float>();
  const float* b = beta.data<float>();
  parallel_for(rows, std::max<int64_t>(1, 16384 / c), [&](int64_t r0, int64_t r1) {
    kern.layer_norm_rows(xd + r0 * c, yd + r0 * c, r1 - r0, c, g, b, eps);
  });
}

}  // namespace indetail
