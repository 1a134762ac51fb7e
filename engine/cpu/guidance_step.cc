// guidance_step: classifier-free guidance combine + DDIM step (eta 0) + image-prompt reset, as
// documented in backend.h, in float32 like diffusers (sqrt of the float ᾱ and of 1 - ᾱ).
#include <cmath>
#include <cstring>

#include "../core/threadpool.h"
#include "cpu_backend.h"
#include "op_util.h"

namespace indetail {

void CpuBackend::guidance_step(const Tensor& eps, const Tensor& x, const Tensor* reset, Tensor& out,
                               const GuidanceStepParams& p) {
  using namespace cpu;
  const char* op = "guidance_step";
  check_f32(op, "eps", eps);
  check_f32(op, "x", x);
  check_f32(op, "out", out);
  check_arg(x.dim() >= 1 && eps.dim() == x.dim(), "guidance_step: eps ", eps.describe(), " and x ", x.describe(),
            " must be [rows, ...] and [frames, ...] of the same rank");
  for (int d = 1; d < x.dim(); ++d)
    check_arg(eps.size(d) == x.size(d), "guidance_step: eps ", eps.describe(), " and x ", x.describe(),
              " differ in a sample dimension");
  check_same_shape(op, "x", x, "out", out);
  const int64_t frames = x.size(0), rows = eps.size(0), per = frames ? x.numel() / frames : 0;
  check_arg((int64_t)p.uncond_row.size() == frames && (int64_t)p.cond_row.size() == frames, "guidance_step: uncond_row (",
            p.uncond_row.size(), ") and cond_row (", p.cond_row.size(), ") need one entry per frame (", frames, ")");
  for (int64_t f = 0; f < frames; ++f) {
    int32_t u = p.uncond_row[f], c = p.cond_row[f];
    check_arg(u >= -1 && u < rows && c >= -1 && c < rows, "guidance_step: frame ", f, " uses eps rows (", u, ", ", c,
              ") but eps has ", rows, " rows");
    check_arg(u >= 0 || c >= 0, "guidance_step: frame ", f, " has neither an unconditional nor a conditional row");
  }
  check_arg(p.alpha_from > 0.0f && p.alpha_from <= 1.0f && p.alpha_to > 0.0f && p.alpha_to <= 1.0f,
            "guidance_step: alpha_from (", p.alpha_from, ") and alpha_to (", p.alpha_to, ") must be in (0, 1]");
  check_arg(p.reset_frame >= -1 && p.reset_frame < frames, "guidance_step: reset_frame ", p.reset_frame,
            " is not a frame of ", x.describe());
  Shape reset_shape = x.shape();
  if (p.reset_frame >= 0) {
    check_arg(reset != nullptr, "guidance_step: reset_frame ", p.reset_frame, " needs the reset tensor");
    check_f32(op, "reset", *reset);
    reset_shape[0] = 1;
    check_shape(op, "reset", *reset, reset_shape);
  }
  check_arg(!overlaps(eps, out), "guidance_step: out must not alias eps");

  const float sa = std::sqrt(p.alpha_from), sb = std::sqrt(1.0f - p.alpha_from);
  const float ta = std::sqrt(p.alpha_to), tb = std::sqrt(1.0f - p.alpha_to);
  const float gs = p.guidance_scale;
  const bool vpred = p.v_prediction;
  const float* ed = eps.data<float>();
  const float* xd = x.data<float>();
  float* yd = out.data<float>();
  for (int64_t f = 0; f < frames; ++f) {
    if (f == p.reset_frame) continue;
    const int32_t u = p.uncond_row[f], c = p.cond_row[f];
    const float* eu = u >= 0 ? ed + u * per : nullptr;
    const float* ec = c >= 0 ? ed + c * per : nullptr;
    const float* xf = xd + f * per;
    float* yf = yd + f * per;
    parallel_for(per, 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const float g = !ec ? eu[i] : !eu ? ec[i] : eu[i] + gs * (ec[i] - eu[i]);
        const float xi = xf[i];
        // diffusers' DDIM step: epsilon, or v converted to (x0, ε) at the current level.
        const float x0 = vpred ? sa * xi - sb * g : (xi - sb * g) / sa;
        const float e = vpred ? sa * g + sb * xi : g;
        yf[i] = ta * x0 + tb * e;
      }
    });
  }
  if (p.reset_frame >= 0) std::memmove(yd + p.reset_frame * per, reset->data<float>(), (size_t)per * sizeof(float));
}

}  // namespace indetail
