// The op interface. Every model graph (engine/models) is written against Backend only; the CPU
// backend (engine/cpu) is the reference and the CUDA backend (cuda/) implements the same ops
// with fused kernels. Each op has a parity case (test/ops-cases.mjs) run on every backend.
//
// Conventions for every op:
//  * tensors are contiguous, row-major, activations NHWC / [frames, tokens, channels];
//  * inputs and outputs live on this backend and have its compute dtype (F32 on CPU; F16 or
//    BF16 on CUDA) unless stated; `out` is allocated by the caller with the documented shape;
//  * optional inputs are pointers (nullptr = absent);
//  * shape mismatches throw Error(InvalidArgument) naming the op and the shapes.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace indetail {

enum class Activation { None, SiLU, GELU, GELUTanh, QuickGELU };

// How a weight tensor will be used; lets a backend choose its layout once at load time.
enum class WeightUse {
  Linear,  // [N, K]: out = x · wᵀ
  Conv,    // [Cout, KH, KW, Cin] (already converted from the checkpoint's OIHW by the loader)
  Vector,  // biases, norm scales and shifts
  Table,   // embedding tables, looked up on the host side of the backend
};

struct LinearParams {
  Activation act = Activation::None;  // applied before the residual is added
};

struct Conv2dParams {
  int stride = 1;    // 1 or 2
  int pad = 0;       // zero padding at the top and left (and bottom/right unless pad_end is set)
  int pad_end = -1;  // zero padding at the bottom and right; -1 = same as pad (the VAE encoder's
                     // downsampler pads (0, 1) asymmetrically). Ho = (H + pad + pad_end - KH) / stride + 1
  float out_scale = 1.0f;  // out = (conv + bias + frame_bias + residual) * out_scale
};

struct GroupNormParams {
  int groups = 32;
  float eps = 1e-5f;
  bool silu = false;  // fuse SiLU after the affine transform
};

struct TimestepEmbeddingParams {
  bool flip_sin_to_cos = true;  // [cos | sin] instead of [sin | cos]
  float freq_shift = 0.0f;      // downscale_freq_shift of diffusers
  float max_period = 10000.0f;
  float scale = 1.0f;
};

// How a query frame also attends to its reference frame's keys and values (DESIGN.md §1).
enum class RefMode {
  None,        // plain attention over the frame's own keys (ref is ignored)
  Concat,      // one softmax over [K_ref ; K_own]
  Stratified,  // (λ_ref·Attn(Q,K_ref,V_ref) + λ_self·Attn(Q,K_own,V_own)) / (λ_ref + λ_self)
  Replace,     // attend to K_ref only
};

struct AttentionParams {
  int heads = 1;
  float scale = 1.0f;   // softmax scale, usually 1/sqrt(head_dim)
  bool causal = false;  // query i sees keys 0..i (CLIP text encoder)
  RefMode mode = RefMode::None;
  float lambda_ref = 1.0f;   // λ_P of the paper (stratified only)
  float lambda_self = 1.0f;  // λ_G of the paper (stratified only)
  // Per query frame b: ref[b] = the frame whose keys/values it also attends to, or -1 for none
  // (then it gets plain attention whatever the mode). Empty = -1 for every frame.
  std::vector<int32_t> ref;
  // q, k and v may be column windows of wider rows (a fused QKV projection): columns
  // [q_col, q_col + heads*head_dim) of each row of q, and so on.
  int64_t q_col = 0, k_col = 0, v_col = 0;
};

// Classifier-free guidance combine + DDIM step (eta 0) + image-prompt reset, in one op.
// For frame f: e = cond_row[f] < 0 ? eps[uncond_row[f]]
//                 : uncond_row[f] < 0 ? eps[cond_row[f]]
//                 : eps[u] + guidance_scale * (eps[c] - eps[u]);
//   epsilon:      x0 = (x - sqrt(1 - a_from) e) / sqrt(a_from)
//   v-prediction: x0 = sqrt(a_from) x - sqrt(1 - a_from) e,  e <- sqrt(a_from) e + sqrt(1 - a_from) x
//                 (diffusers' DDIM v step: x0 directly, no division by sqrt(a_from))
//   out = sqrt(a_to) x0 + sqrt(1 - a_to) e
// With a_to the noisier level (smaller ᾱ) and no CFG this is the reference's inversion step.
// reset_frame >= 0: out[reset_frame] = reset (the image-prompt frame follows the inversion chain).
struct GuidanceStepParams {
  float guidance_scale = 1.0f;
  float alpha_from = 1.0f;  // ᾱ of the current level
  float alpha_to = 1.0f;    // ᾱ of the level stepped to
  bool v_prediction = false;
  std::vector<int32_t> uncond_row;  // per frame, row of eps (-1: no unconditional prediction)
  std::vector<int32_t> cond_row;    // per frame, row of eps
  int32_t reset_frame = -1;
};

struct MemoryStats {
  uint64_t in_use = 0;  // bytes held by live tensors
  uint64_t peak = 0;    // high-water mark of in_use
  uint64_t cached = 0;  // bytes kept by the allocator for reuse
  uint64_t weights = 0; // bytes of prepared weights
};

struct DeviceInfo {
  std::string name;
  int index = 0;
  int cc_major = 0, cc_minor = 0;
  uint64_t total_memory = 0;
  uint64_t free_memory = 0;
  int multiprocessors = 0;
};

// Work recorded once and replayed (CUDA graphs): the same kernels with the same arguments and
// addresses every time. Tensors allocated while recording keep their memory reserved for the
// recording until it is destroyed, so a replay never overwrites memory handed to other work.
class RecordedWork {
 public:
  virtual ~RecordedWork() = default;
  // Enqueues the recorded work again (ordered after earlier work, like an op). Throws Error(Device).
  virtual void replay() = 0;
  // Device memory reserved for the tensors the recording allocated.
  virtual uint64_t reserved_bytes() const = 0;
  // Recorded operations (kernels and copies), 0 when unknown.
  virtual size_t operations() const { return 0; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // "cpu", "cuda:0"
  virtual DType compute_dtype() const = 0;

  // Memory. empty() comes from the backend's caching allocator (contents undefined).
  virtual Tensor empty(DType dtype, const Shape& shape) = 0;
  Tensor empty(const Shape& shape) { return empty(compute_dtype(), shape); }
  // Host tensor (any float dtype, or I32) -> this backend, converted to `dtype`.
  virtual Tensor upload(const Tensor& host, DType dtype) = 0;
  Tensor upload(const Tensor& host) { return upload(host, compute_dtype()); }
  // This backend -> new host F32 tensor (I32 tensors stay I32).
  virtual Tensor download(const Tensor& t) = 0;
  // Converts a host weight (F32, F16 or BF16) to what this backend's ops expect for `use`
  // (dtype, layout). The result never shares memory with `host` (which may be a file mapping).
  virtual Tensor prepare_weight(const Tensor& host, WeightUse use) = 0;
  virtual void synchronize() {}
  virtual MemoryStats memory_stats() const = 0;
  // Returns the memory the allocator keeps for reuse (free blocks) to the system. Models that run
  // once per image (the VAE) call it around their work, so that the denoising loop's cached
  // blocks and theirs are never held at the same time. Default: nothing.
  virtual void release_cached_memory() {}
  // Benchmarks: runs `run` (which enqueues ops on this backend) `iterations` times with no host
  // synchronisation in between and appends the device time of each call to `seconds`;
  // `flush_l2` evicts the device cache before every call, outside the timed span. Returns false
  // where there is no device timer (the caller then times on the host).
  virtual bool time_device(const std::function<void()>& run, int iterations, bool flush_l2,
                           std::vector<double>& seconds) {
    return false;
  }

  // Host tensor -> existing tensor `dst` of this backend (converted to dst's dtype as upload()
  // converts) without waiting for the copy; later work is ordered after it. May be called while
  // earlier work still runs. Default: upload + copy.
  virtual void upload_into(const Tensor& host, Tensor& dst) {
    Tensor staged = upload(host, dst.dtype());
    copy(staged, dst);
  }

  // --- recorded work (CUDA graphs) ---------------------------------------------------------
  // "" when record_work can succeed on this backend, else why not.
  virtual std::string recording_unsupported_reason() const { return "the " + name() + " backend cannot record work"; }
  // Runs `body` in recording mode: the ops it enqueues are recorded instead of run, and tensors
  // it allocates come from memory reserved for the recording. Returns nullptr and sets `why` when
  // recording failed (an op that synchronises or cannot be recorded, or body threw): then nothing
  // ran, the reserved memory is released and the backend is usable as before (unless an earlier
  // error left it unusable). The caller must not use this backend from another thread meanwhile.
  virtual std::unique_ptr<RecordedWork> record_work(const std::function<void()>& body, std::string& why) {
    why = recording_unsupported_reason();
    return nullptr;
  }

  // --- ops -------------------------------------------------------------------------------
  // y = value
  virtual void fill(Tensor& y, float value) = 0;
  // y = a * x + y
  virtual void axpy(float a, const Tensor& x, Tensor& y) = 0;
  // dst = src (same shape; may convert dtype)
  virtual void copy(const Tensor& src, Tensor& dst) = 0;

  // x: [..., K]; w: [N, K] (prepared with WeightUse::Linear); bias: [N]; residual, out: [..., N]
  virtual void linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* residual, Tensor& out,
                      const LinearParams& p) = 0;
  // out = a * gelu(g) where the projection x·wᵀ + bias = [a | g] (halves of width F each).
  // x: [..., K]; w: [2F, K]; bias: [2F]; out: [..., F]. Default: linear + geglu.
  virtual void linear_geglu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out);
  // x: [..., 2F] -> out: [..., F], out = x[..., :F] * gelu(x[..., F:]) (exact erf GELU)
  virtual void geglu(const Tensor& x, Tensor& out) = 0;

  // x: [N, H, W, Cin]; w: [Cout, KH, KW, Cin] (WeightUse::Conv); bias: [Cout];
  // frame_bias: [N, Cout] (added per frame: the ResNet time embedding); residual, out: [N, Ho, Wo, Cout]
  virtual void conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* frame_bias,
                      const Tensor* residual, Tensor& out, const Conv2dParams& p) = 0;

  // x, out: [N, H, W, C] (statistics per frame and group over H, W and C/groups); gamma, beta: [C]
  virtual void group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& out,
                          const GroupNormParams& p) = 0;
  // out = conv2d(group_norm(x, gamma, beta, gn), w, bias, frame_bias, residual, p): the ResNet
  // pattern GroupNorm (+SiLU when gn.silu) -> convolution, arguments as group_norm's (x: [N, H, W,
  // Cin], gamma / beta: [Cin]) and conv2d's (bias may be null). A backend need not write the
  // normalised tensor in fp32: it may normalise while the convolution reads x (CUDA on compute
  // capability 9.0), or write it only in the convolution's operand type (the CPU's bf16 tier:
  // straight to bf16). Default (the reference): group_norm into a temporary, then conv2d.
  virtual void group_norm_conv2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, const GroupNormParams& gn,
                                 const Tensor& w, const Tensor* bias, const Tensor* frame_bias, const Tensor* residual,
                                 Tensor& out, const Conv2dParams& p);
  // x, out: [..., C]; normalised over the last dimension
  virtual void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& out, float eps) = 0;
  // out = linear(layer_norm(x, gamma, beta, eps), w, bias, residual, p): the transformer pattern
  // LayerNorm -> projection, arguments as layer_norm's and linear's. A backend may normalise while
  // the GEMM reads x (CUDA on compute capability 9.0). Default (the reference): layer_norm into a
  // temporary, then linear.
  virtual void layer_norm_linear(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, const Tensor& w,
                                 const Tensor* bias, const Tensor* residual, Tensor& out, const LinearParams& p);
  // The same with linear_geglu as the projection. Default: layer_norm, then linear_geglu.
  virtual void layer_norm_linear_geglu(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                                       const Tensor& w, const Tensor* bias, Tensor& out);

  // q: [B, Lq, *], k/v: [B, Lk, *], out: [B, Lq, heads*head_dim]. When k_ref/v_ref are given
  // ([R, Lr, *]) ref[b] indexes them (a stored cache) instead of the frames of k/v.
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref, const Tensor* v_ref,
                         Tensor& out, const AttentionParams& p) = 0;

  // x: [N, H, W, C] -> out: [N, Ho, Wo, C], nearest neighbour (src = floor(dst * in / out))
  virtual void upsample_nearest(const Tensor& x, Tensor& out) = 0;
  // t: [N] F32 timesteps -> out: [N, dim] sinusoidal embedding (diffusers get_timestep_embedding)
  virtual void timestep_embedding(const Tensor& t, Tensor& out, const TimestepEmbeddingParams& p) = 0;
  // out = act(x)
  virtual void activation(const Tensor& x, Tensor& out, Activation act) = 0;
  // out = a + alpha * b (same shapes)
  virtual void add(const Tensor& a, const Tensor& b, Tensor& out, float alpha = 1.0f) = 0;
  // out[n] = x[n] * scale[n] for each frame n of dim 0 (ControlNet residual masking)
  virtual void scale_frames(const Tensor& x, const std::vector<float>& scale, Tensor& out) = 0;
  // a: [..., Ca], b: [..., Cb] -> out: [..., Ca + Cb] (the UNet skip connections, NHWC)
  virtual void concat_channels(const Tensor& a, const Tensor& b, Tensor& out) = 0;
  // token ids: host I32 [N, L]; table: [V, C] (WeightUse::Table) -> out: [N, L, C]
  virtual void embedding(const Tensor& ids, const Tensor& table, Tensor& out) = 0;

  // eps: [R, H, W, C]; x, out: [F, H, W, C]; reset: [1, H, W, C] when p.reset_frame >= 0
  virtual void guidance_step(const Tensor& eps, const Tensor& x, const Tensor* reset, Tensor& out,
                             const GuidanceStepParams& p) = 0;
};

// Backend registry -------------------------------------------------------------------------
// "cpu" always exists. "cuda" exists when the addon was built with CUDA and a device works;
// otherwise create_backend("cuda") throws Error(Unsupported) with the reason.
std::shared_ptr<Backend> create_backend(const std::string& name, const std::string& options_json = "");
std::vector<std::string> available_backends();
// Why CUDA is unusable ("" when it is usable): not compiled in, no driver, no device...
std::string cuda_unavailable_reason();
std::vector<DeviceInfo> cuda_devices();
bool cuda_compiled();

}  // namespace indetail
