#include "cuda_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "../engine/op_checks.h"
#include "cuda_check.h"
#include "kernels/elementwise.cuh"
#include "kernels/timing.h"

namespace indetail {

std::shared_ptr<Backend> create_cuda_backend(int device, const std::string& options_json) {
  auto devices = cuda_devices();
  check_arg(device >= 0 && device < (int)devices.size(), "CUDA device ", device, " does not exist (found ",
            devices.size(), ")");
  DType compute = DType::F16;
  if (options_json.find("\"bf16\"") != std::string::npos) compute = DType::BF16;
  return std::make_shared<CudaBackend>(device, compute);
}

CudaBackend::CudaBackend(int device, DType compute) : device_(device), compute_(compute) {
  CUDA_CHECK(cudaSetDevice(device_));
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  alloc_ = std::make_shared<DeviceAllocator>(device_);
  CUDA_CHECK(cudaDeviceGetAttribute(&num_sms_, cudaDevAttrMultiProcessorCount, device_));
  CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes_, cudaDevAttrL2CacheSize, device_));
  hopper_ = hopper_kernels_usable(device_);
}

// sm_90a code runs on compute capability 9.0 only; INDETAIL_SM90=0 keeps the mma.sync kernels.
bool CudaBackend::hopper_kernels_usable(int device) {
#ifdef INDETAIL_WITH_SM90A
  int major = 0, minor = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  const char* env = std::getenv("INDETAIL_SM90");
  return major == 9 && minor == 0 && !(env && std::string(env) == "0");
#else
  (void)device;
  return false;
#endif
}

CudaBackend::~CudaBackend() {
  if (stream_) {
    cudaSetDevice(device_);
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
  if (staging_done_) cudaEventDestroy(staging_done_);
  if (staging_) cudaFreeHost(staging_);
  cudaGetLastError();
}

// Only when another device is current: ops also run while a graph is being recorded.
void CudaBackend::make_current() const {
  int current = -1;
  CUDA_CHECK(cudaGetDevice(&current));
  if (current != device_) CUDA_CHECK(cudaSetDevice(device_));
}

void CudaBackend::note_error(cudaError_t err, const char* where) {
  if (cuda_error_is_sticky(err)) {
    broken_ = true;
    broken_reason_ = std::string(cudaGetErrorName(err)) + " in " + where;
  }
}

void CudaBackend::ensure_usable() const {
  if (broken_)
    fail(ErrorKind::Device, "the CUDA backend is unusable after an earlier error (", broken_reason_,
         "); dispose this engine and restart the process to use the GPU again");
  make_current();
}

void CudaBackend::check_launch(const char* op) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) return;
  if (cuda_error_is_sticky(err)) {
    broken_ = true;
    broken_reason_ = std::string(cudaGetErrorName(err)) + " in " + op;
  }
  fail(ErrorKind::Device, "CUDA error in ", op, ": ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
}

bool& CudaBackend::recording_on_this_thread() {
  static thread_local bool recording = false;
  return recording;
}

std::unique_lock<std::mutex> CudaBackend::pass_capture_gate() {
  std::unique_lock<std::mutex> gate(capture_gate_, std::defer_lock);
  if (!recording_on_this_thread()) gate.lock();
  return gate;
}

void CudaBackend::synchronize() {
  auto gate = pass_capture_gate();
  sync_stream();
}

void CudaBackend::sync_stream() {
  ensure_usable();
  cudaError_t err = cudaStreamSynchronize(stream_);
  if (err != cudaSuccess) {
    if (cuda_error_is_sticky(err)) {
      broken_ = true;
      broken_reason_ = cudaGetErrorName(err);
    }
    cudaGetLastError();
    fail(ErrorKind::Device, "CUDA error while synchronising: ", cudaGetErrorName(err), " (", cudaGetErrorString(err),
         ")");
  }
}

Tensor CudaBackend::scratch_f32(int64_t floats) { return alloc_->allocate(DType::F32, {floats}); }

void CudaBackend::check_activation(const char* op, const char* arg, const Tensor& t) const {
  check_device(op, arg, t, Device::CUDA);
  check_arg(t.dtype() == compute_, op, ": ", arg, " must have the engine's compute dtype ", dtype_name(compute_),
            ", got ", t.describe());
}

void CudaBackend::check_param(const char* op, const char* arg, const Tensor& t, int64_t n) const {
  check_device(op, arg, t, Device::CUDA);
  check_arg(t.dtype() == DType::F32, op, ": ", arg, " must be F32 (prepare it with WeightUse::Vector / ",
            "prepareWeight(t, 'vector')), got ", t.describe());
  check_shape(op, arg, t, {n});
}

namespace {
// Events of one timing run, destroyed however the run ends.
struct EventSet {
  std::vector<cudaEvent_t> ev;
  ~EventSet() {
    for (cudaEvent_t e : ev) cudaEventDestroy(e);
  }
};
}  // namespace

bool CudaBackend::time_device(const std::function<void()>& run, int iterations, bool flush_l2,
                              std::vector<double>& seconds) {
  ensure_usable();
  if (iterations < 1) return true;
  EventSet events;
  events.ev.reserve(2 * (size_t)iterations);
  for (int i = 0; i < 2 * iterations; ++i) {
    cudaEvent_t e;
    CUDA_CHECK(cudaEventCreate(&e));
    events.ev.push_back(e);
  }
  Tensor flush;
  if (flush_l2) flush = alloc_->allocate(DType::U8, {2 * (int64_t)std::max(l2_bytes_, 1 << 20)});
  // Let the host queue every call before the GPU starts on them (~50 us of host work per call).
  cuda::launch_spin(std::min<int64_t>(1000000LL + 50000LL * iterations, 200000000LL), stream_);
  check_launch("timing");
  for (int i = 0; i < iterations; ++i) {
    if (flush_l2) CUDA_CHECK(cudaMemsetAsync(flush.raw(), i & 0xff, flush.nbytes(), stream_));
    CUDA_CHECK(cudaEventRecord(events.ev[2 * i], stream_));
    run();
    CUDA_CHECK(cudaEventRecord(events.ev[2 * i + 1], stream_));
  }
  synchronize();
  for (int i = 0; i < iterations; ++i) {
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, events.ev[2 * i], events.ev[2 * i + 1]));
    seconds.push_back(ms * 1e-3);
  }
  return true;
}

Tensor CudaBackend::empty(DType dtype, const Shape& shape) {
  ensure_usable();
  return alloc_->allocate(dtype, shape);
}

Tensor CudaBackend::upload(const Tensor& host, DType dtype) {
  auto gate = pass_capture_gate();
  ensure_usable();
  check_arg(host.device() == Device::CPU, "upload: source must be a host tensor, got ", host.describe());
  Tensor staged;
  if (host.dtype() == DType::I32 || dtype == DType::I32) {
    check_arg(host.dtype() == DType::I32 && dtype == DType::I32, "upload: integer tensors stay I32, got ",
              host.describe(), " -> ", dtype_name(dtype));
    staged = host;
  } else {
    check_arg(is_float(dtype), "upload: cannot upload as ", dtype_name(dtype));
    staged = host.dtype() == dtype ? host : convert_host(to_f32_host(host), dtype);
  }
  Tensor out = alloc_->allocate(dtype, host.shape());
  CUDA_CHECK(cudaMemcpyAsync(out.raw(), staged.raw(), staged.nbytes(), cudaMemcpyHostToDevice, stream_));
  sync_stream();  // the staging buffer may be freed when we return
  return out;
}

void CudaBackend::upload_into(const Tensor& host, Tensor& dst) {
  auto gate = pass_capture_gate();
  ensure_usable();
  check_arg(host.device() == Device::CPU, "upload_into: source must be a host tensor, got ", host.describe());
  check_device("upload_into", "dst", dst, Device::CUDA);
  check_arg(host.numel() == dst.numel(), "upload_into: ", host.describe(), " does not fit ", dst.describe());
  Tensor staged;
  if (host.dtype() == DType::I32 || dst.dtype() == DType::I32) {
    check_arg(host.dtype() == DType::I32 && dst.dtype() == DType::I32, "upload_into: integer tensors stay I32, got ",
              host.describe(), " -> ", dst.describe());
    staged = host;
  } else {
    check_arg(is_float(dst.dtype()), "upload_into: cannot upload into ", dst.describe());
    staged = host.dtype() == dst.dtype() ? host : convert_host(to_f32_host(host), dst.dtype());
  }
  const size_t n = staged.nbytes();
  if (n == 0) return;
  std::lock_guard<std::mutex> lk(staging_m_);
  if (!staging_done_) CUDA_CHECK(cudaEventCreateWithFlags(&staging_done_, cudaEventDisableTiming));
  cudaError_t err = cudaEventSynchronize(staging_done_);  // the previous copy has read the buffer
  if (err != cudaSuccess) {
    note_error(err, "upload_into");
    CUDA_CHECK(err);
  }
  if (n > staging_bytes_) {
    if (staging_) CUDA_CHECK(cudaFreeHost(staging_));
    staging_ = nullptr;
    staging_bytes_ = 0;
    const size_t bytes = std::max<size_t>(n, 4096);
    CUDA_CHECK(cudaHostAlloc(&staging_, bytes, cudaHostAllocDefault));
    staging_bytes_ = bytes;
  }
  std::memcpy(staging_, staged.raw(), n);
  CUDA_CHECK(cudaMemcpyAsync(dst.raw(), staging_, n, cudaMemcpyHostToDevice, stream_));
  CUDA_CHECK(cudaEventRecord(staging_done_, stream_));
}

Tensor CudaBackend::download(const Tensor& t) {
  auto gate = pass_capture_gate();
  ensure_usable();
  check_device("download", "tensor", t, Device::CUDA);
  Tensor host = Tensor::host(t.dtype(), t.shape());
  CUDA_CHECK(cudaMemcpyAsync(host.raw(), t.raw(), t.nbytes(), cudaMemcpyDeviceToHost, stream_));
  sync_stream();
  if (t.dtype() == DType::I32 || t.dtype() == DType::F32) return host;
  return to_f32_host(host);
}

Tensor CudaBackend::prepare_weight(const Tensor& host, WeightUse use) {
  check_arg(is_float(host.dtype()), "prepare_weight: the weight must be F32, F16 or BF16, got ", host.describe());
  // Biases and norm parameters stay F32 (they feed F32 epilogues); matrices use the compute dtype.
  DType dt = use == WeightUse::Vector ? DType::F32 : compute_;
  Tensor out = upload(host, dt);
  weight_bytes_ += out.nbytes();
  return out;
}

MemoryStats CudaBackend::memory_stats() const {
  MemoryStats s;
  s.in_use = alloc_->in_use();
  s.peak = alloc_->peak();
  s.cached = alloc_->cached();
  s.weights = weight_bytes_;
  return s;
}

void CudaBackend::fill(Tensor& y, float value) {
  ensure_usable();
  check_device("fill", "y", y, Device::CUDA);
  cuda::launch_fill(y.dtype(), y.raw(), y.numel(), value, stream_);
  check_launch("fill");
}

void CudaBackend::axpy(float a, const Tensor& x, Tensor& y) {
  ensure_usable();
  check_device("axpy", "x", x, Device::CUDA);
  check_device("axpy", "y", y, Device::CUDA);
  check_same_shape("axpy", "x", x, "y", y);
  check_arg(x.dtype() == y.dtype(), "axpy: x ", x.describe(), " and y ", y.describe(), " must have the same dtype");
  cuda::launch_axpy(y.dtype(), a, x.raw(), y.raw(), y.numel(), stream_);
  check_launch("axpy");
}

void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  ensure_usable();
  check_device("copy", "src", src, Device::CUDA);
  check_device("copy", "dst", dst, Device::CUDA);
  check_same_shape("copy", "src", src, "dst", dst);
  if (src.dtype() == dst.dtype()) {
    CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDeviceToDevice, stream_));
  } else {
    cuda::launch_convert(src.dtype(), src.raw(), dst.dtype(), dst.raw(), src.numel(), stream_);
    check_launch("copy");
  }
}

}  // namespace indetail
