// Linked instead of cuda/ when the addon is built without nvcc.
#include <memory>

#include "backend.h"
#include "core/error.h"

namespace indetail {

bool cuda_compiled() { return false; }
std::string cuda_unavailable_reason() { return "this build of indetail was compiled without CUDA (nvcc was not found)"; }
std::vector<DeviceInfo> cuda_devices() { return {}; }
std::shared_ptr<Backend> create_cuda_backend(int, const std::string&) {
  fail(ErrorKind::Unsupported, "the CUDA backend is not available: ", cuda_unavailable_reason());
}

}  // namespace indetail
