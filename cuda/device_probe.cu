// Finds usable CUDA devices. Any failure of the runtime (no driver, a driver too old for the
// CUDA runtime linked in, no device) means "no GPU", with the reason kept for doctor/errors.
#include <cuda_runtime.h>

#include <cstdlib>
#include <mutex>
#include <sstream>

#include "../engine/backend.h"
#include "cuda_check.h"
#include "self_test.h"

namespace indetail {

namespace {

struct Probe {
  std::string reason;  // empty when usable
  std::vector<DeviceInfo> devices;
};

const Probe& probe() {
  static Probe p;
  static std::once_flag once;
  std::call_once(once, [] {
    if (const char* off = std::getenv("INDETAIL_DISABLE_CUDA"); off && *off && std::string(off) != "0") {
      p.reason = "disabled by the environment variable INDETAIL_DISABLE_CUDA";
      return;
    }
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      std::ostringstream os;
      os << "no usable NVIDIA driver or device (" << cudaGetErrorName(err) << ": " << cudaGetErrorString(err)
         << "); the CUDA " << CUDART_VERSION / 1000 << "." << (CUDART_VERSION % 1000) / 10
         << " runtime in this build needs an NVIDIA driver >= 580";
      p.reason = os.str();
      cudaGetLastError();
      return;
    }
    if (count == 0) {
      p.reason = "no CUDA device found";
      return;
    }
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp prop;
      if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
      DeviceInfo d;
      d.index = i;
      d.name = prop.name;
      d.cc_major = prop.major;
      d.cc_minor = prop.minor;
      d.total_memory = prop.totalGlobalMem;
      d.multiprocessors = prop.multiProcessorCount;
      size_t free_b = 0, total_b = 0;
      if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) d.free_memory = free_b;
      cudaGetLastError();
      p.devices.push_back(d);
    }
    if (p.devices.empty()) {
      p.reason = "CUDA devices were found but none could be queried";
      return;
    }
    bool any_supported = false;
    for (const auto& d : p.devices) any_supported |= d.cc_major >= 8;
    if (!any_supported) {
      std::ostringstream os;
      os << "no device of compute capability 8.0 or newer (found " << p.devices[0].name << ", "
         << p.devices[0].cc_major << "." << p.devices[0].cc_minor << ")";
      p.reason = os.str();
    }
  });
  return p;
}

}  // namespace

bool cuda_compiled() { return true; }
std::string cuda_unavailable_reason() { return cuda_self_tested_reason(probe().reason, probe().devices); }
// The probed devices, with free memory as of now (what other processes and our caches hold).
std::vector<DeviceInfo> cuda_devices() {
  std::vector<DeviceInfo> list = probe().devices;
  int current = 0;
  if (list.empty() || cudaGetDevice(&current) != cudaSuccess) {
    cudaGetLastError();
    return list;
  }
  for (auto& d : list) {
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(d.index) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) d.free_memory = free_b;
    cudaGetLastError();
  }
  cudaSetDevice(current);
  cudaGetLastError();
  return list;
}

void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  std::ostringstream os;
  os << "CUDA error " << cudaGetErrorName(err) << " (" << cudaGetErrorString(err) << ") in " << what << " at "
     << file << ":" << line;
  cudaGetLastError();  // clear a non-sticky error so the next call does not see it
  throw Error(ErrorKind::Device, os.str());
}

}  // namespace indetail
