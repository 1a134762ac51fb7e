#include "vit_positions.h"

#include <cmath>
#include <vector>

#include "../core/error.h"

namespace indetail {

bool dino_interpolates(int64_t height, int64_t width, int64_t patch, int64_t grid) {
  return (height / patch) * (width / patch) != grid * grid || height != width;
}

namespace {

// torch's cubic convolution coefficients for the fraction t (A = -0.75).
void cubic_coefficients(float t, float w[4]) {
  const float A = -0.75f;
  auto near = [&](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto far = [&](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  const float u = 1.0f - t;
  w[0] = far(t + 1.0f);
  w[1] = near(t);
  w[2] = near(u);
  w[3] = far(u + 1.0f);
}

struct Taps {
  std::vector<int64_t> index;  // 4 per output position, clamped to [0, in)
  std::vector<float> weight;   // 4 per output position
};

// Output positions of one axis resized from `in` to `out` samples with torch's scale 1/factor.
Taps axis_taps(int64_t in, int64_t out, double factor) {
  Taps t;
  t.index.resize(out * 4);
  t.weight.resize(out * 4);
  const float scale = (float)(1.0 / factor);
  for (int64_t i = 0; i < out; ++i) {
    const float src = scale * ((float)i + 0.5f) - 0.5f;
    int64_t i0 = std::min((int64_t)std::floor(src), in - 1);
    float frac = std::min(std::max(src - (float)i0, 0.0f), 1.0f);
    cubic_coefficients(frac, &t.weight[i * 4]);
    for (int j = 0; j < 4; ++j) t.index[i * 4 + j] = std::max<int64_t>(std::min<int64_t>(i0 - 1 + j, in - 1), 0);
  }
  return t;
}

}  // namespace

Tensor dino_interpolate_positions(const Tensor& grid, int64_t g, int64_t gh, int64_t gw) {
  check_arg(grid.device() == Device::CPU && grid.dtype() == DType::F32 && grid.dim() == 2 && grid.size(0) == g * g,
            "position interpolation: expected host F32 [", g * g, ", C], got ", grid.describe());
  const int64_t C = grid.size(1);
  // torch sizes the output floor(g * factor); DINO asserts it is the grid it wants.
  const double fh = (gh + 0.1) / (double)g, fw = (gw + 0.1) / (double)g;
  check_arg((int64_t)std::floor(g * fh) == gh && (int64_t)std::floor(g * fw) == gw, "position interpolation: a ", g, "x", g,
            " grid cannot be resized to ", gh, "x", gw, " with DINO's scale factors");
  const Taps th = axis_taps(g, gh, fh), tw = axis_taps(g, gw, fw);
  Tensor out = Tensor::host_uninitialized(DType::F32, {gh * gw, C});
  const float* src = grid.data<float>();
  float* dst = out.data<float>();
  std::vector<float> row(C);
  for (int64_t y = 0; y < gh; ++y) {
    for (int64_t x = 0; x < gw; ++x) {
      float* o = dst + (y * gw + x) * C;
      for (int64_t c = 0; c < C; ++c) o[c] = 0.0f;
      for (int a = 0; a < 4; ++a) {  // rows outside, columns inside, as torch's separable loop nests
        const float* line = src + th.index[y * 4 + a] * g * C;
        for (int64_t c = 0; c < C; ++c) row[c] = 0.0f;
        for (int b = 0; b < 4; ++b) {
          const float* p = line + tw.index[x * 4 + b] * C;
          const float wb = tw.weight[x * 4 + b];
          for (int64_t c = 0; c < C; ++c) row[c] += p[c] * wb;
        }
        const float wa = th.weight[y * 4 + a];
        for (int64_t c = 0; c < C; ++c) o[c] += row[c] * wa;
      }
    }
  }
  return out;
}

}  // namespace indetail
