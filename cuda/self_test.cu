// See self_test.h. The kernel is deliberately trivial: what it checks is that this build has
// code the device (or its driver's PTX compiler) can run, that a launch and a copy-back work,
// and that the values arrive intact.
#include <cuda_runtime.h>

#include <cstdlib>
#include <mutex>
#include <sstream>

#include "self_test.h"

#ifndef INDETAIL_CUDA_ARCHITECTURES
#define INDETAIL_CUDA_ARCHITECTURES "?"
#endif

namespace indetail {

namespace {

constexpr int kElements = 1000;  // 4 blocks of 256, the last one partial
constexpr int kSalt = 0x5eed;

__global__ void self_test_kernel(int* out, int n, int salt) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = i * 3 + salt;
}

std::string env_value(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string runtime_version() {
  std::ostringstream os;
  os << CUDART_VERSION / 1000 << "." << (CUDART_VERSION % 1000) / 10;
  return os.str();
}

std::string device_label(const DeviceInfo& d) {
  std::ostringstream os;
  os << "device " << d.index << " (" << d.name << ", compute capability " << d.cc_major << "." << d.cc_minor << ")";
  return os.str();
}

std::string cuda_error_hint(cudaError_t err, const DeviceInfo& d) {
  std::ostringstream os;
  os << cudaGetErrorName(err) << ": " << cudaGetErrorString(err);
  if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidDeviceFunction)
    os << "; this build has no code for compute capability " << d.cc_major << "." << d.cc_minor
       << " (built for " << INDETAIL_CUDA_ARCHITECTURES << "): the GPU is not supported by this build";
  else if (err == cudaErrorUnsupportedPtxVersion || err == cudaErrorInsufficientDriver)
    os << "; the NVIDIA driver is too old for the CUDA " << runtime_version()
       << " code in this build (update it to 580 or newer)";
  return os.str();
}

// Runs the kernel on one device. `expect_offset` is 0 except when a failure is forced.
std::string test_device(const DeviceInfo& d, int expect_offset, const std::string& forced_note) {
  int* dev = nullptr;
  int host[kElements];
  std::string why;
  auto step = [&](cudaError_t err, const char* what) {
    if (err == cudaSuccess || !why.empty()) return err == cudaSuccess;
    why = std::string(what) + " failed: " + cuda_error_hint(err, d);
    return false;
  };
  if (step(cudaSetDevice(d.index), "selecting the device") &&
      step(cudaMalloc(&dev, sizeof(host)), "allocating 4 KB")) {
    self_test_kernel<<<(kElements + 255) / 256, 256>>>(dev, kElements, kSalt);
    if (step(cudaGetLastError(), "launching the self-test kernel") &&
        step(cudaMemcpy(host, dev, sizeof(host), cudaMemcpyDeviceToHost), "running the kernel and copying back")) {
      for (int i = 0; i < kElements; ++i) {
        int expected = i * 3 + kSalt + expect_offset;
        if (host[i] != expected) {
          std::ostringstream os;
          os << "the kernel wrote " << host[i] << " at element " << i << ", expected " << expected << forced_note;
          why = os.str();
          break;
        }
      }
    }
  }
  if (dev) cudaFree(dev);
  cudaGetLastError();  // leave no error behind for the next CUDA call
  return why.empty() ? why : "the CUDA self-test failed on " + device_label(d) + ": " + why;
}

std::string forced_failure(const std::string& value, const std::vector<DeviceInfo>& devices) {
  const std::string note = " (simulated by INDETAIL_FORCE_CUDA_PROBE_FAILURE=" + value + ")";
  if (value == "driver")
    return "no usable NVIDIA driver" + note + "; the CUDA " + runtime_version() +
           " runtime in this build needs an NVIDIA driver >= 580";
  if (value == "no-device") return "no CUDA device found" + note;
  if (value == "unsupported")
    return std::string("no GPU this build supports") + note + "; built for " + INDETAIL_CUDA_ARCHITECTURES;
  if (value == "self-test") {
    // With a GPU, run the real test against a wrong expectation so the comparison path is used.
    if (!devices.empty()) return test_device(devices[0], 1, note);
    return "the CUDA self-test failed" + note;
  }
  return "INDETAIL_FORCE_CUDA_PROBE_FAILURE has the unknown value '" + value +
         "' (expected driver, no-device, unsupported or self-test)";
}

}  // namespace

const std::string& cuda_self_tested_reason(const std::string& probe_reason, const std::vector<DeviceInfo>& devices) {
  static std::string reason;
  static std::once_flag once;
  std::call_once(once, [&] {
    std::string disabled = env_value("INDETAIL_DISABLE_CUDA");
    std::string forced = env_value("INDETAIL_FORCE_CUDA_PROBE_FAILURE");
    if (!forced.empty() && forced != "0" && (disabled.empty() || disabled == "0")) {
      reason = forced_failure(forced, devices);
      return;
    }
    if (!probe_reason.empty()) {
      reason = probe_reason;
      return;
    }
    int current = 0;
    cudaGetDevice(&current);
    for (const auto& d : devices) {
      reason = test_device(d, 0, "");
      if (!reason.empty()) break;
    }
    cudaSetDevice(current);
    cudaGetLastError();
  });
  return reason;
}

}  // namespace indetail
