#include "cpu_backend.h"

#include <algorithm>
#include <cstring>

#include "../core/threadpool.h"
#include "../op_checks.h"
#include "../core/json.h"
#include "gemm_weights.h"

namespace indetail {

CpuBackend::CpuBackend(cpu::GemmPrecision precision)
    : alloc_(std::make_shared<HostAllocator>()), precision_(precision) {}

std::shared_ptr<CpuBackend> CpuBackend::create(const std::string& options_json) {
  cpu::GemmPrecision precision = cpu::GemmPrecision::F32;
  if (!options_json.empty()) {
    json::Value root;
    std::string err;
    check_arg(json::parse(options_json.data(), options_json.size(), &root, &err) && root.is_object(),
              "cpu backend options must be a JSON object, got ", options_json, err.empty() ? "" : " (", err,
              err.empty() ? "" : ")");
    for (const auto& kv : root.members()) {
      if (kv.first != "precision") fail(ErrorKind::InvalidArgument, "cpu backend: unknown option '", kv.first, "' (known: precision)");
      const std::string p = kv.second.is_string() ? kv.second.as_string() : "";
      check_arg(p == "f32" || p == "bf16", "cpu backend: precision must be 'f32' or 'bf16', got ",
                kv.second.is_string() ? "'" + p + "'" : std::string(json::type_name(kv.second.type())));
      precision = p == "bf16" ? cpu::GemmPrecision::BF16 : cpu::GemmPrecision::F32;
    }
  }
  return std::make_shared<CpuBackend>(precision);
}

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
  if (cpu::packed_nr(t.layout())) return cpu::unpack_gemm_weight(t);  // a prepared GEMM weight: [N, K] row-major
  return to_f32_host(t);  // always a fresh copy, never a view of an arena block
}

// Linear and conv weights ([N, K] and [Cout, KH, KW, Cin] = [N, K]) are packed once into the
// GEMM's panel layout (gemm_weights.h) in the dtype of the backend's precision; the ops also
// accept the plain fp32 layout. Other weights are fp32 copies.
Tensor CpuBackend::prepare_weight(const Tensor& host, WeightUse use) {
  check_device("prepare_weight", "weight", host, Device::CPU);
  check_arg(is_float(host.dtype()) && host.layout() == 0, "prepare_weight: the weight must be a plain F32, F16 or BF16 tensor, got ",
            host.describe());
  Tensor out;
  if (use == WeightUse::Linear || use == WeightUse::Conv) {
    check_arg(host.dim() == (use == WeightUse::Linear ? 2 : 4), "prepare_weight: a ",
              use == WeightUse::Linear ? "linear weight must be [N, K]" : "conv weight must be [Cout, KH, KW, Cin]",
              ", got ", host.describe());
    out = cpu::pack_gemm_weight(host, cpu::prepared_gemm_dtype(host.dtype(), precision_));
  } else {
    out = to_f32_host(host);  // always a copy, even of F32
  }
  weight_bytes_ += out.storage()->bytes();
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
