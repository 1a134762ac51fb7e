// The CPU reference backend: F32 activations, NHWC, threaded with the engine's pool and
// vectorised (AMX / AVX512-BF16 / AVX-512 / AVX2+FMA picked at run time, portable fallback).
//
// Precision (options {"precision": "f32" | "bf16"}):
//  * f32: fp32 arithmetic everywhere. Weights of linear and convolution layers keep a half
//    precision checkpoint's dtype (f16 / bf16 values are exact in fp32) and are widened per
//    tile, so an f16 checkpoint takes half the memory of fp32 weights.
//  * bf16: those weights are stored in bf16; convolutions, linears and the attention matmuls
//    multiply bf16 operands with fp32 accumulation (vdpbf16ps / AMX where the CPU has them,
//    else fp32 kernels on bf16-rounded operands). Norms, softmax statistics, activations, the
//    guidance step and every tensor between ops stay fp32.
#pragma once
#include <memory>

#include "../backend.h"
#include "gemm.h"
#include "host_allocator.h"

namespace indetail {

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(cpu::GemmPrecision precision = cpu::GemmPrecision::F32);
  // options_json: "" or {"precision": "f32" | "bf16"}; anything else is an InvalidArgument error.
  static std::shared_ptr<CpuBackend> create(const std::string& options_json);
  cpu::GemmPrecision precision() const { return precision_; }
  Device device() const override { return Device::CPU; }
  std::string name() const override { return "cpu"; }
  DType compute_dtype() const override { return DType::F32; }

  using Backend::empty;
  using Backend::upload;
  Tensor empty(DType dtype, const Shape& shape) override;
  Tensor upload(const Tensor& host, DType dtype) override;
  Tensor download(const Tensor& t) override;
  Tensor prepare_weight(const Tensor& host, WeightUse use) override;
  MemoryStats memory_stats() const override;
  void release_cached_memory() override { alloc_->release_cache(); }

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

 private:
  std::shared_ptr<HostAllocator> alloc_;
  cpu::GemmPrecision precision_;
  uint64_t weight_bytes_ = 0;
};

}  // namespace indetail
