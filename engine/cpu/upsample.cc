// upsample_nearest to any output size, with PyTorch's index rule for mode='nearest' given a size:
// scale = (float)in / out, src = min(floor((float)dst · scale), in - 1). For the odd sizes of the
// UNet's up path (20x28 latents) this float arithmetic decides which row is repeated.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../core/threadpool.h"
#include "cpu_backend.h"
#include "op_util.h"

namespace indetail {

namespace {
std::vector<int64_t> nearest_sources(int64_t in, int64_t out) {
  std::vector<int64_t> src(out);
  float scale = (float)in / (float)out;
  for (int64_t d = 0; d < out; ++d) {
    if (out == in) src[d] = d;
    else if (out == 2 * in) src[d] = d >> 1;
    else src[d] = std::min((int64_t)std::floor((float)d * scale), in - 1);
  }
  return src;
}
}  // namespace

void CpuBackend::upsample_nearest(const Tensor& x, Tensor& out) {
  using namespace cpu;
  const char* op = "upsample_nearest";
  check_f32(op, "x", x);
  check_f32(op, "out", out);
  check_rank(op, "x", x, 4);
  check_rank(op, "out", out, 4);
  check_arg(x.size(0) == out.size(0) && x.size(3) == out.size(3), "upsample_nearest: x ", x.describe(), " and out ",
            out.describe(), " must have the same frames and channels");
  check_arg(!overlaps(x, out), "upsample_nearest: out must not alias x");
  const int64_t frames = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  const int64_t ho = out.size(1), wo = out.size(2);
  if (out.numel() == 0) return;
  check_arg(h > 0 && w > 0, "upsample_nearest: cannot resize the empty image ", x.describe());
  std::vector<int64_t> sy = nearest_sources(h, ho), sx = nearest_sources(w, wo);
  const float* xd = x.data<float>();
  float* yd = out.data<float>();
  parallel_for(frames * ho, std::max<int64_t>(1, 8192 / std::max<int64_t>(wo * c, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t f = r / ho, y = r % ho;
      const float* src_row = xd + (f * h + sy[y]) * w * c;
      float* dst = yd + r * wo * c;
      for (int64_t xo = 0; xo < wo; ++xo) std::memcpy(dst + xo * c, src_row + sx[xo] * c, (size_t)c * sizeof(float));
    }
  });
}

}  // namespace indetail
