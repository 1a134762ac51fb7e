// create_backend() and the list of usable backends. The CUDA half lives in cuda/ when the addon
// is built with nvcc, and in cuda_stub.cc otherwise.
#include <memory>

#include "backend.h"
#include "core/error.h"
#include "cpu/cpu_backend.h"

namespace indetail {

std::shared_ptr<Backend> create_cuda_backend(int device, const std::string& options_json);  // cuda/ or stub

std::shared_ptr<Backend> create_backend(const std::string& name, const std::string& options_json) {
  if (name == "cpu") return CpuBackend::create(options_json);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int device = 0;
    if (name.size() > 5) {
      try {
        device = std::stoi(name.substr(5));
      } catch (...) {
        fail(ErrorKind::InvalidArgument, "backend '", name, "': expected cuda or cuda:<device index>");
      }
    }
    std::string why = cuda_unavailable_reason();
    if (!why.empty()) fail(ErrorKind::Unsupported, "the CUDA backend is not available: ", why);
    return create_cuda_backend(device, options_json);
  }
  fail(ErrorKind::InvalidArgument, "unknown backend '", name, "' (expected cpu, cuda or cuda:<index>)");
}

std::vector<std::string> available_backends() {
  std::vector<std::string> out{"cpu"};
  if (cuda_unavailable_reason().empty()) out.push_back("cuda");
  return out;
}

}  // namespace indetail
