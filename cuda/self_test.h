// The last gate before the CUDA backend is offered: a tiny kernel must run on every device the
// probe found and write the expected values (catches cards without code in this build, drivers
// too old to JIT its PTX, broken contexts). INDETAIL_FORCE_CUDA_PROBE_FAILURE simulates a failure.
#pragma once
#include <string>
#include <vector>

#include "../engine/backend.h"

namespace indetail {

// `probe_reason`: why the device probe refused CUDA ("" when it did not). Returns the final
// reason ("" when CUDA is usable). Runs once per process; later calls return the cached result.
const std::string& cuda_self_tested_reason(const std::string& probe_reason, const std::vector<DeviceInfo>& devices);

}  // namespace indetail
