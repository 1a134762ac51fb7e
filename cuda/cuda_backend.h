// The CUDA backend: the op interface on one device and one stream, F16 (or BF16) storage with
// F32 accumulation, activations from a caching allocator. Kernels live in cuda/kernels/*.cu,
// one file per fused operation; this class checks arguments and launches them.
#pragma once
#include <cuda_runtime.h>

#include <memory>
#include <mutex>

#include "../engine/backend.h"
#include "device_allocator.h"

namespace indetail {

class CudaBackend : public Backend {
 public:
  CudaBackend(int device, DType compute);
  ~CudaBackend() override;
  Device device() const override { return Device::CUDA; }
  std::string name() const override { return "cuda:" + std::to_string(device_); }
  DType compute_dtype() const override { return compute_; }
  cudaStream_t stream() const { return stream_; }
  int device_index() const { return device_; }

  using Backend::empty;
  using Backend::upload;
  Tensor empty(DType dtype, const Shape& shape) override;
  Tensor upload(const Tensor& host, DType dtype) override;
  Tensor download(const Tensor& t) override;
  void upload_into(const Tensor& host, Tensor& dst) override;
  std::string recording_unsupported_reason() const override;
  std::unique_ptr<RecordedWork> record_work(const std::function<void()>& body, std::string& why) override;
  Tensor prepare_weight(const Tensor& host, WeightUse use) override;
  void synchronize() override;
  MemoryStats memory_stats() const override;
  bool time_device(const std::function<void()>& run, int iterations, bool flush_l2,
                   std::vector<double>& seconds) override;

  void fill(Tensor& y, float value) override;
  void axpy(float a, const Tensor& x, Tensor& y) override;
  void copy(const Tensor& src, Tensor& dst) override;

  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* residual, Tensor& out,
              const LinearParams& p) override;
  void linear_geglu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) override;
  void geglu(const Tensor& x, Tensor& out) override;
  void conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor* frame_bias, const Tensor* residual,
              Tensor& out, const Conv2dParams& p) override;
  void group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& out,
                  const GroupNormParams& p) override;
  void layer_norm_linear(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, const Tensor& w,
                         const Tensor* bias, const Tensor* residual, Tensor& out, const LinearParams& p) override;
  void layer_norm_linear_geglu(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, const Tensor& w,
                               const Tensor* bias, Tensor& out) override;
  void group_norm_conv2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, const GroupNormParams& gn,
                         const Tensor& w, const Tensor* bias, const Tensor* frame_bias, const Tensor* residual,
                         Tensor& out, const Conv2dParams& p) override;
  void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& out, float eps) override;
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref, const Tensor* v_ref,
                 Tensor& out, const AttentionParams& p) override;
  void upsample_nearest(const Tensor& x, Tensor& out) override;
  void timestep_embedding(const Tensor& t, Tensor& out, const TimestepEmbeddingParams& p) override;
  void activation(const Tensor& x, Tensor& out, Activation act) override;
  void add(const Tensor& a, const Tensor& b, Tensor& out, float alpha) override;
  void scale_frames(const Tensor& x, const std::vector<float>& scale, Tensor& out) override;
  void concat_channels(const Tensor& a, const Tensor& b, Tensor& out) override;
  void embedding(const Tensor& ids, const Tensor& table, Tensor& out) override;
  void guidance_step(const Tensor& eps, const Tensor& x, const Tensor* reset, Tensor& out,
                     const GuidanceStepParams& p) override;

  // Throws if an earlier sticky CUDA error left the context unusable.
  void ensure_usable() const;
  // Records a sticky error (the backend refuses work from now on) when `err` is one.
  void note_error(cudaError_t err, const char* where);
  void mark_broken(const std::string& reason) {
    broken_ = true;
    broken_reason_ = reason;
  }
  DeviceAllocator& allocator() { return *alloc_; }
  // Held by a thread while it records a graph. download, upload, upload_into and synchronize,
  // which JavaScript may call without the engine lock (tensor reads), wait on it rather than
  // put a copy or a synchronisation into the capture; on the recording thread itself they go
  // ahead (and fail the recording, which then runs eagerly).
  std::mutex& capture_gate() { return capture_gate_; }
  static bool& recording_on_this_thread();
  // Checks the last launch; marks the backend broken on a sticky error.
  void check_launch(const char* op);
  int num_sms() const { return num_sms_; }
  // The sm_90a kernels (wgmma, TMA) are built in and this device runs them.
  bool hopper_kernels() const { return hopper_; }
  static bool hopper_kernels_usable(int device);
  // Scratch F32 memory from the activation arena. It is returned to the arena when the Tensor
  // goes, while kernels may still use it: safe because every op runs on this one stream.
  Tensor scratch_f32(int64_t floats);
  // Throws unless t is a CUDA tensor of this backend's compute dtype.
  void check_activation(const char* op, const char* arg, const Tensor& t) const;
  // Throws unless t is a CUDA F32 vector of `n` values (biases, norm parameters).
  void check_param(const char* op, const char* arg, const Tensor& t, int64_t n) const;

 private:
  void make_current() const;
  std::unique_lock<std::mutex> pass_capture_gate();
  void sync_stream();
  int device_;
  DType compute_;
  cudaStream_t stream_ = nullptr;
  std::shared_ptr<DeviceAllocator> alloc_;
  uint64_t weight_bytes_ = 0;
  int num_sms_ = 0;
  int l2_bytes_ = 0;
  bool hopper_ = false;
  bool broken_ = false;
  std::string broken_reason_;
  std::mutex capture_gate_;
  // upload_into: pinned staging, reused once the event says the previous copy has read it.
  std::mutex staging_m_;
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
  cudaEvent_t staging_done_ = nullptr;
};

}  // namespace indetail
