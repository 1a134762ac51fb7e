#include "cpu_backend.h"

#include <algorithm>
#include <cstring>

#include "../core/threadpool.h"
#include "../op_checks.h"
#include "gemm.h"

namespace indetail {

CpuBackend::CpuBackend() : alloc_(std::make_shared<HostAllocator>()) {}

Tensor CpuBackend::empty(DType dtype, const Shape& shape) { return alloc_->allocate(dtype, shape); }

Tensor CpuBackend::upload(const Tensor& host, DType dtype) {
  check_arg(host.device() == Device::CPU, "upload: source must be a host tensor, got ", host.describe());
  if (dtype == DType::I32 || host.dtype() == DType::I32) {
    check_arg(host.dtype() == DType::I32 && dtype == DType::I32, "upload: integer tensors stay I32, got ",
              host.describe(), " -> ", dtype_name(dtype));
    Tensor out = empty(DType::I32, host.shape());
    std::memcpy(out.raw(), host.raw(), host.nbytes());
    return out;
  }
  check_arg(dtype == DType::F32, "the CPU backend computes in F32; cannot upload as ", dtype_name(dtype));
  Tensor f = to_f32_host(host);
  Tensor out = empty(DType::F32, host.shape());
  std::memcpy(out.raw(), f.raw(), f.nbytes());
  return out;
}

Tensor CpuBackend::download(const Tensor& t) {
  check_device("download", "tensor", t, Device::CPU);
  if (t.dtype() == DType::I32) {
    Tensor out = Tensor::host(DType::I32, t.shape());
    std::memcpy(out.raw(), t.raw(), t.nbytes());
    return out;
  }
  if (int nr = cpu::packed_nr(t.layout())) {  // a prepared GEMM weight: back to [N, K] row-major
    Tensor out = Tensor::host_uninitialized(DType::F32, t.shape());
    int64_t n = t.size(0);
    cpu::unpack_weight(t.data<float>(), n, n ? t.numel() / n : 0, nr, out.data<float>());
    return out;
  }
  return to_f32_host(t);  // always a fresh copy, never a view of an arena block
}

// Linear and conv weights ([N, K] and [Cout, KH, KW, Cin] = [N, K]) are packed once into the
// GEMM's panel layout (tagged, see gemm.h); the ops also accept the plain layout. Other weights
// are copied as they are.
Tensor CpuBackend::prepare_weight(const Tensor& host_f32, WeightUse use) {
  check_device("prepare_weight", "weight", host_f32, Device::CPU);
  check_dtype("prepare_weight", "weight", host_f32, DType::F32);
  if (use == WeightUse::Linear || use == WeightUse::Conv) {
    check_arg(host_f32.dim() == (use == WeightUse::Linear ? 2 : 4), "prepare_weight: a ",
              use == WeightUse::Linear ? "linear weight must be [N, K]" : "conv weight must be [Cout, KH, KW, Cin]",
              ", got ", host_f32.describe());
    const int nr = cpu::gemm_kernels().nr;
    const int64_t n = host_f32.size(0), k = n ? host_f32.numel() / n : 0;
    const int64_t floats = cpu::packed_floats(n, k, nr);
    Tensor storage = Tensor::host_uninitialized(DType::F32, {std::max<int64_t>(floats, 1)});
    cpu::pack_weight(host_f32.data<float>(), n, k, nr, storage.data<float>());
    weight_bytes_ += storage.nbytes();
    return Tensor(storage.storage(), 0, DType::F32, host_f32.shape()).with_layout(cpu::packed_layout(nr));
  }
  Tensor out = Tensor::host_uninitialized(DType::F32, host_f32.shape());
  std::memcpy(out.raw(), host_f32.raw(), host_f32.nbytes());
  weight_bytes_ += out.nbytes();
  return out;
}

MemoryStats CpuBackend::memory_stats() const {
  MemoryStats s;
  s.in_use = alloc_->in_use();
  s.peak = alloc_->peak();
  s.cached = alloc_->cached();
  s.weights = weight_bytes_;
  return s;
}

void CpuBackend::fill(Tensor& y, float value) {
  check_device("fill", "y", y, Device::CPU);
  check_dtype("fill", "y", y, DType::F32);
  float* p = y.data<float>();
  parallel_for(y.numel(), 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = value;
  });
}

void CpuBackend::axpy(float a, const Tensor& x, Tensor& y) {
  check_device("axpy", "x", x, Device::CPU);
  check_device("axpy", "y", y, Device::CPU);
  check_dtype("axpy", "x", x, DType::F32);
  check_dtype("axpy", "y", y, DType::F32);
  check_same_shape("axpy", "x", x, "y", y);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  parallel_for(y.numel(), 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) yp[i] += a * xp[i];
  });
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  check_device("copy", "src", src, Device::CPU);
  check_device("copy", "dst", dst, Device::CPU);
  check_same_shape("copy", "src", src, "dst", dst);
  check_arg(src.layout() == 0 && dst.layout() == 0, "copy: prepared (packed) weights cannot be copied; download them");
  check_arg(src.dtype() == dst.dtype(), "copy: dtype conversion ", dtype_name(src.dtype()), " -> ",
            dtype_name(dst.dtype()), " is not supported on the CPU backend");
  std::memcpy(dst.raw(), src.raw(), src.nbytes());
}

}  // namespace indetail
