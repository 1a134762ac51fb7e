// The bandwidth-bound ops: argument checks and launches (cuda/kernels/pointwise.cu,
// layout_ops.cu, timestep_embedding.cu, guidance_step.cu).
#include <cmath>

#include "../engine/op_checks.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "kernels/guidance_step.h"
#include "kernels/layout_ops.h"
#include "kernels/pointwise.h"
#include "kernels/timestep_embedding.h"

namespace indetail {

void CudaBackend::geglu(const Tensor& x, Tensor& out) {
  const char* op = "geglu";
  ensure_usable();
  check_activation(op, "x", x);
  check_activation(op, "out", out);
  check_arg(x.dim() >= 1 && x.size(-1) % 2 == 0, "geglu: x must be [..., 2F], got ", x.describe());
  Shape os = x.shape();
  os.back() /= 2;
  check_shape(op, "out", out, os);
  const int64_t F = os.back();
  if (F == 0) return;
  cuda::launch_geglu(compute_, x.raw(), out.raw(), x.numel() / (2 * F), F, stream_);
  check_launch(op);
}

void CudaBackend::activation(const Tensor& x, Tensor& out, Activation act) {
  const char* op = "activation";
  ensure_usable();
  check_activation(op, "x", x);
  check_activation(op, "out", out);
  check_same_shape(op, "x", x, "out", out);
  cuda::launch_activation(compute_, x.raw(), out.raw(), x.numel(), (int)act, stream_);
  check_launch(op);
}

void CudaBackend::add(const Tensor& a, const Tensor& b, Tensor& out, float alpha) {
  const char* op = "add";
  ensure_usable();
  check_activation(op, "a", a);
  check_activation(op, "b", b);
  check_activation(op, "out", out);
  check_same_shape(op, "a", a, "b", b);
  check_same_shape(op, "a", a, "out", out);
  cuda::launch_add(compute_, a.raw(), b.raw(), out.raw(), a.numel(), alpha, stream_);
  check_launch(op);
}

void CudaBackend::scale_frames(const Tensor& x, const std::vector<float>& scale, Tensor& out) {
  const char* op = "scale_frames";
  ensure_usable();
  check_activation(op, "x", x);
  check_activation(op, "out", out);
  check_same_shape(op, "x", x, "out", out);
  check_arg(x.dim() >= 1 && (int64_t)scale.size() == x.size(0), "scale_frames: ", scale.size(),
            " scales for x ", x.describe(), " (one per frame of dimension 0)");
  if (x.numel() == 0) return;
  cuda::launch_scale_frames(compute_, x.raw(), out.raw(), x.numel() / x.size(0), scale, stream_);
  check_launch(op);
}

void CudaBackend::concat_channels(const Tensor& a, const Tensor& b, Tensor& out) {
  const char* op = "concat_channels";
  ensure_usable();
  check_activation(op, "a", a);
  check_activation(op, "b", b);
  check_activation(op, "out", out);
  check_arg(a.dim() >= 1 && a.dim() == b.dim(), "concat_channels: a ", a.describe(), " and b ", b.describe(),
            " must have the same rank");
  Shape os = a.shape();
  for (int d = 0; d + 1 < a.dim(); ++d)
    check_arg(a.size(d) == b.size(d), "concat_channels: a ", a.describe(), " and b ", b.describe(),
              " differ outside the last dimension");
  os.back() = a.size(-1) + b.size(-1);
  check_shape(op, "out", out, os);
  const int64_t Ca = a.size(-1), Cb = b.size(-1);
  if (out.numel() == 0) return;
  cuda::launch_concat_channels(compute_, a.raw(), b.raw(), out.raw(), out.numel() / (Ca + Cb), Ca, Cb, stream_);
  check_launch(op);
}

void CudaBackend::upsample_nearest(const Tensor& x, Tensor& out) {
  const char* op = "upsample_nearest";
  ensure_usable();
  check_activation(op, "x", x);
  check_activation(op, "out", out);
  check_rank(op, "x", x, 4);
  check_rank(op, "out", out, 4);
  check_arg(x.size(0) == out.size(0) && x.size(3) == out.size(3), "upsample_nearest: x ", x.describe(), " and out ",
            out.describe(), " must have the same frames and channels");
  check_arg(out.numel() == 0 || (x.size(1) > 0 && x.size(2) > 0), "upsample_nearest: x ", x.describe(), " is empty");
  cuda::launch_upsample_nearest(compute_, x.raw(), out.raw(), x.size(0), x.size(1), x.size(2), out.size(1),
                                out.size(2), x.size(3), stream_);
  check_launch(op);
}

void CudaBackend::embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
  const char* op = "embedding";
  ensure_usable();
  check_arg(ids.defined() && ids.dtype() == DType::I32, "embedding: ids must be an I32 tensor, got ",
            ids.defined() ? ids.describe() : std::string("nothing"));
  check_activation(op, "table", table);
  check_activation(op, "out", out);
  check_rank(op, "table", table, 2);
  const int64_t V = table.size(0), C = table.size(1);
  Shape os = ids.shape();
  os.push_back(C);
  check_shape(op, "out", out, os);
  const int64_t tokens = ids.numel();
  if (tokens == 0) return;
  // The ids are few; check every one on the host, then hand the kernel a device copy.
  Tensor host_ids = ids.device() == Device::CPU ? ids : download(ids);
  const int32_t* hp = host_ids.data<int32_t>();
  for (int64_t i = 0; i < tokens; ++i)
    check_arg(hp[i] >= 0 && hp[i] < V, "embedding: token id ", hp[i], " at position ", i, " is outside the table of ",
              V, " rows");
  Tensor dev_ids = ids;
  if (ids.device() == Device::CPU) {
    dev_ids = alloc_->allocate(DType::I32, ids.shape());
    // From pageable memory this returns once the ids are staged, so the host tensor may go.
    CUDA_CHECK(cudaMemcpyAsync(dev_ids.raw(), ids.raw(), ids.nbytes(), cudaMemcpyHostToDevice, stream_));
  }
  cuda::launch_embedding(compute_, dev_ids.data<int32_t>(), table.raw(), out.raw(), tokens, C, stream_);
  check_launch(op);
}

void CudaBackend::timestep_embedding(const Tensor& t, Tensor& out, const TimestepEmbeddingParams& p) {
  const char* op = "timestep_embedding";
  ensure_usable();
  check_device(op, "t", t, Device::CUDA);
  check_arg(is_float(t.dtype()), "timestep_embedding: t must be a float tensor, got ", t.describe());
  check_activation(op, "out", out);
  check_rank(op, "t", t, 1);
  check_rank(op, "out", out, 2);
  check_arg(out.size(0) == t.size(0), "timestep_embedding: out ", out.describe(), " must have one row per timestep of t ",
            t.describe());
  const int64_t dim = out.size(1);
  check_arg(dim <= (1 << 30), "timestep_embedding: dim ", dim, " is too large");
  check_arg(dim < 2 || (double)(dim / 2) != (double)p.freq_shift, "timestep_embedding: freq_shift ", p.freq_shift,
            " equals half the dimension (division by zero)");
  check_arg(p.max_period > 0.0f, "timestep_embedding: max_period must be positive, got ", p.max_period);
  cuda::launch_timestep_embedding(t.dtype(), t.raw(), compute_, out.raw(), t.size(0), (int)dim, p.flip_sin_to_cos,
                                  p.freq_shift, p.max_period, p.scale, stream_);
  check_launch(op);
}

void CudaBackend::guidance_step(const Tensor& eps, const Tensor& x, const Tensor* reset, Tensor& out,
                                const GuidanceStepParams& p) {
  const char* op = "guidance_step";
  ensure_usable();
  check_activation(op, "eps", eps);
  check_activation(op, "x", x);
  check_activation(op, "out", out);
  check_arg(x.dim() >= 1 && eps.dim() == x.dim(), "guidance_step: eps ", eps.describe(), " and x ", x.describe(),
            " must be [R, H, W, C] and [F, H, W, C]");
  for (int d = 1; d < x.dim(); ++d)
    check_arg(eps.size(d) == x.size(d), "guidance_step: eps ", eps.describe(), " and x ", x.describe(),
              " differ outside dimension 0");
  check_same_shape(op, "x", x, "out", out);
  const int64_t F = x.size(0), R = eps.size(0);
  const int64_t E = F ? x.numel() / F : 0;
  check_arg((int64_t)p.uncond_row.size() == F && (int64_t)p.cond_row.size() == F, "guidance_step: uncond_row (",
            p.uncond_row.size(), ") and cond_row (", p.cond_row.size(), ") need one entry per frame of x ",
            x.describe());
  check_arg(p.reset_frame >= -1 && p.reset_frame < F, "guidance_step: reset_frame ", p.reset_frame,
            " is not a frame of x ", x.describe());
  for (int64_t f = 0; f < F; ++f) {
    const int u = p.uncond_row[f], c = p.cond_row[f];
    check_arg(u >= -1 && u < R && c >= -1 && c < R, "guidance_step: frame ", f, " reads eps rows ", u, " / ", c,
              " but eps has ", R, " rows");
    check_arg(f == p.reset_frame || u >= 0 || c >= 0, "guidance_step: frame ", f,
              " has neither an unconditional nor a conditional row");
  }
  if (p.reset_frame >= 0) {
    check_arg(reset != nullptr, "guidance_step: reset_frame ", p.reset_frame, " needs a reset tensor");
    check_activation(op, "reset", *reset);
    check_arg(reset->numel() == E && reset->dim() == x.dim() && reset->size(0) == 1, "guidance_step: reset ",
              reset->describe(), " must be one frame of x ", x.describe());
  }
  check_arg(p.alpha_from > 0.0f && p.alpha_from <= 1.0f && p.alpha_to > 0.0f && p.alpha_to <= 1.0f,
            "guidance_step: alphas must be in (0, 1], got alpha_from ", p.alpha_from, " and alpha_to ", p.alpha_to);
  if (F == 0 || E == 0) return;
  cuda::GuidanceStepArgs a;
  a.eps = eps.raw();
  a.x = x.raw();
  a.reset = p.reset_frame >= 0 ? reset->raw() : nullptr;
  a.out = out.raw();
  a.frame_elems = E;
  a.frames = (int)F;
  a.guidance_scale = p.guidance_scale;
  a.sqrt_a_from = (float)std::sqrt((double)p.alpha_from);
  a.sqrt_1m_a_from = (float)std::sqrt(1.0 - (double)p.alpha_from);
  a.sqrt_a_to = (float)std::sqrt((double)p.alpha_to);
  a.sqrt_1m_a_to = (float)std::sqrt(1.0 - (double)p.alpha_to);
  a.v_prediction = p.v_prediction;
  a.uncond_row = p.uncond_row;
  a.cond_row = p.cond_row;
  a.reset_frame = p.reset_frame;
  cuda::launch_guidance_step(compute_, a, stream_);
  check_launch(op);
}

}  // namespace indetail
