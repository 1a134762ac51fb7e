#include "vae_tiling.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/error.h"

namespace indetail {

std::vector<TileSpan> plan_tiles(int64_t length, int64_t tile, int64_t overlap) {
  check_arg(length > 0 && tile > 0 && overlap >= 0 && overlap < tile, "VAE tiling: invalid plan (length ", length,
            ", tile ", tile, ", overlap ", overlap, ")");
  if (length <= tile) return {{0, length}};
  const int64_t n = std::max<int64_t>(2, (length - overlap + (tile - overlap) - 1) / (tile - overlap));
  // The smallest tile that still covers the axis with n tiles and overlaps of `overlap`.
  const int64_t size = std::min(tile, (length + (n - 1) * overlap + n - 1) / n);
  std::vector<TileSpan> spans;
  for (int64_t k = 0; k < n; ++k) {
    int64_t start = (int64_t)std::floor((double)k * (double)(length - size) / (double)(n - 1) + 0.5);
    spans.push_back({start, size});
  }
  return spans;
}

std::vector<float> blend_ramp(const std::vector<TileSpan>& spans, size_t k, int64_t scale) {
  const int64_t start = spans[k].start * scale, size = spans[k].size * scale;
  int64_t before = 0, after = 0;
  if (k > 0) before = std::max<int64_t>(0, (spans[k - 1].start + spans[k - 1].size) * scale - start);
  if (k + 1 < spans.size()) after = std::max<int64_t>(0, start + size - spans[k + 1].start * scale);
  std::vector<float> w((size_t)size);
  for (int64_t i = 0; i < size; ++i) {
    double v = 1.0;
    if (before > 0) v = std::min(v, (i + 0.5) / (double)before);
    if (after > 0) v = std::min(v, (size - i - 0.5) / (double)after);
    w[(size_t)i] = (float)v;
  }
  return w;
}

namespace {

// Rows [y0, y0 + h) and columns [x0, x0 + w) of every frame of a host NHWC tensor.
Tensor crop(const Tensor& src, int64_t y0, int64_t x0, int64_t h, int64_t w) {
  const int64_t n = src.size(0), sh = src.size(1), sw = src.size(2), c = src.size(3);
  Tensor out = Tensor::host_uninitialized(DType::F32, {n, h, w, c});
  const float* s = src.data<float>();
  float* d = out.data<float>();
  for (int64_t f = 0; f < n; ++f)
    for (int64_t y = 0; y < h; ++y)
      std::memcpy(d + ((f * h + y) * w) * c, s + ((f * sh + y0 + y) * sw + x0) * c, (size_t)(w * c) * sizeof(float));
  return out;
}

}  // namespace

Tensor run_tiled(Backend& b, const Tensor& x, const TiledPass& pass, const std::function<Tensor(const Tensor&)>& fn) {
  check_arg(x.dim() == 4, "VAE tiling: input must be [N, H, W, C], got ", x.describe());
  const int64_t n = x.size(0), c = pass.out_channels;
  const int64_t ly = x.size(1) / pass.in_scale, lx = x.size(2) / pass.in_scale;
  check_arg(ly * pass.in_scale == x.size(1) && lx * pass.in_scale == x.size(2), "VAE tiling: input ", x.describe(),
            " is not a multiple of ", pass.in_scale);
  const std::vector<TileSpan> rows = plan_tiles(ly, pass.tile, pass.overlap);
  const std::vector<TileSpan> cols = plan_tiles(lx, pass.tile, pass.overlap);
  const int64_t oh = ly * pass.out_scale, ow = lx * pass.out_scale;

  Tensor host_in = b.download(x);
  Tensor acc = Tensor::host(DType::F32, {n, oh, ow, c});  // zeroed
  std::vector<float> weight_sum((size_t)(oh * ow), 0.0f);
  float* a = acc.data<float>();

  for (size_t ty = 0; ty < rows.size(); ++ty) {
    const std::vector<float> wy = blend_ramp(rows, ty, pass.out_scale);
    for (size_t tx = 0; tx < cols.size(); ++tx) {
      const std::vector<float> wx = blend_ramp(cols, tx, pass.out_scale);
      check_cancel(pass.cancel, "VAE tile ", ty * cols.size() + tx, " of ", rows.size() * cols.size());
      Tensor tile_in = b.upload(crop(host_in, rows[ty].start * pass.in_scale, cols[tx].start * pass.in_scale,
                                     rows[ty].size * pass.in_scale, cols[tx].size * pass.in_scale));
      Tensor tile_out = b.download(fn(tile_in));
      const int64_t th = rows[ty].size * pass.out_scale, tw = cols[tx].size * pass.out_scale;
      const int64_t y0 = rows[ty].start * pass.out_scale, x0 = cols[tx].start * pass.out_scale;
      check_arg(tile_out.shape() == Shape({n, th, tw, c}), "VAE tiling: a tile produced ", tile_out.describe(),
                ", expected ", shape_str({n, th, tw, c}));
      const float* t = tile_out.data<float>();
      for (int64_t y = 0; y < th; ++y)
        for (int64_t xx = 0; xx < tw; ++xx) {
          const float w = wy[(size_t)y] * wx[(size_t)xx];
          weight_sum[(size_t)((y0 + y) * ow + x0 + xx)] += w;
          for (int64_t f = 0; f < n; ++f) {
            const float* src = t + ((f * th + y) * tw + xx) * c;
            float* dst = a + ((f * oh + y0 + y) * ow + x0 + xx) * c;
            for (int64_t ch = 0; ch < c; ++ch) dst[ch] += w * src[ch];
          }
        }
    }
  }
  for (int64_t f = 0; f < n; ++f)
    for (int64_t p = 0; p < oh * ow; ++p) {
      const float inv = 1.0f / weight_sum[(size_t)p];
      float* dst = a + (f * oh * ow + p) * c;
      for (int64_t ch = 0; ch < c; ++ch) dst[ch] *= inv;
    }
  return acc;
}

}  // namespace indetail
