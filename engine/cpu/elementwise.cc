// Elementwise ops: activation, add, scale_frames, geglu, concat_channels.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/threadpool.h"
#include "cpu_backend.h"
#include "cpu_features.h"
#include "elementwise_kernels.h"
#include "op_util.h"

namespace indetail {

namespace cpu {
const ElementwiseKernels& elementwise_kernels() {
  static const ElementwiseKernels& k = kernels_for_level(isa_avx512::elementwise_kernel_table(), isa_avx2::elementwise_kernel_table(),
                                      isa_generic::elementwise_kernel_table());
  return k;
}
}  // namespace cpu

namespace {
constexpr int64_t kGrain = 1 << 15;  // elements per parallel chunk
}

void CpuBackend::activation(const Tensor& x, Tensor& out, Activation act) {
  using namespace cpu;
  check_f32("activation", "x", x);
  check_f32("activation", "out", out);
  check_same_shape("activation", "x", x, "out", out);
  const float* xd = x.data<float>();
  float* yd = out.data<float>();
  const auto& k = elementwise_kernels();
  parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) { k.activation(xd + b, yd + b, e - b, act); });
}

void CpuBackend::add(const Tensor& a, const Tensor& b, Tensor& out, float alpha) {
  using namespace cpu;
  check_f32("add", "a", a);
  check_f32("add", "b", b);
  check_f32("add", "out", out);
  check_same_shape("add", "a", a, "b", b);
  check_same_shape("add", "a", a, "out", out);
  const float* ad = a.data<float>();
  const float* bd = b.data<float>();
  float* yd = out.data<float>();
  const auto& k = elementwise_kernels();
  parallel_for(a.numel(), kGrain, [&](int64_t s, int64_t e) { k.add(ad + s, bd + s, yd + s, e - s, alpha); });
}

void CpuBackend::scale_frames(const Tensor& x, const std::vector<float>& scale, Tensor& out) {
  using namespace cpu;
  check_f32("scale_frames", "x", x);
  check_f32("scale_frames", "out", out);
  check_arg(x.dim() >= 1, "scale_frames: x must have a frame dimension, got ", x.describe());
  check_same_shape("scale_frames", "x", x, "out", out);
  check_arg((int64_t)scale.size() == x.size(0), "scale_frames: ", scale.size(), " scales for the ", x.size(0),
            " frames of ", x.describe());
  const int64_t frames = x.size(0), per = frames ? x.numel() / frames : 0;
  const float* xd = x.data<float>();
  float* yd = out.data<float>();
  const auto& k = elementwise_kernels();
  parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) {
    while (b < e) {
      int64_t f = b / per, end = std::min(e, (f + 1) * per);
      k.scale(xd + b, yd + b, end - b, scale[f]);
      b = end;
    }
  });
}

void CpuBackend::geglu(const Tensor& x, Tensor& out) {
  using namespace cpu;
  check_f32("geglu", "x", x);
  check_f32("geglu", "out", out);
  check_arg(x.dim() >= 1 && x.size(-1) % 2 == 0, "geglu: x must be [..., 2F], got ", x.describe());
  Shape want = x.shape();
  want.back() /= 2;
  check_shape("geglu", "out", out, want);
  const int64_t f = want.back(), rows = f ? out.numel() / f : 0;
  // Rows shrink from 2F to F: an in-place call would overwrite unread input.
  const Tensor xin = unaliased(*this, x, out);
  const float* xd = xin.data<float>();
  float* yd = out.data<float>();
  const auto& k = elementwise_kernels();
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(f, 1)),
               [&](int64_t b, int64_t e) { k.geglu(xd + b * 2 * f, yd + b * f, e - b, f); });
}

void CpuBackend::concat_channels(const Tensor& a, const Tensor& b, Tensor& out) {
  using namespace cpu;
  const char* op = "concat_channels";
  check_f32(op, "a", a);
  check_f32(op, "b", b);
  check_f32(op, "out", out);
  check_arg(a.dim() >= 1 && a.dim() == b.dim(), "concat_channels: a ", a.describe(), " and b ", b.describe(),
            " must have the same rank");
  for (int d = 0; d + 1 < a.dim(); ++d)
    check_arg(a.size(d) == b.size(d), "concat_channels: a ", a.describe(), " and b ", b.describe(),
              " differ outside the channel dimension");
  const int64_t ca = a.size(-1), cb = b.size(-1), co = ca + cb;
  Shape want = a.shape();
  want.back() = co;
  check_shape(op, "out", out, want);
  check_arg(!overlaps(a, out) && !overlaps(b, out), "concat_channels: out must not alias a or b");
  const int64_t rows = co ? out.numel() / co : 0;
  const float* ad = a.data<float>();
  const float* bd = b.data<float>();
  float* yd = out.data<float>();
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(co, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      std::memcpy(yd + r * co, ad + r * ca, (size_t)ca * sizeof(float));
      std::memcpy(yd + r * co + ca, bd + r * cb, (size_t)cb * sizeof(float));
    }
  });
}

}  // namespace indetail
