// CUDA graphs for the backend's stream: CudaBackend::record_work captures what a body enqueues
// (thread-local capture mode, so a synchronising or otherwise unsafe call inside the body fails
// the capture instead of running), with the body's allocations in a graph-private pool of the
// caching allocator; the graph replays as one launch. INDETAIL_CUDA_GRAPHS=0 turns recording off.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "cuda_backend.h"

namespace indetail {
namespace cuda {

// "" when graphs may be recorded, else why not (the environment switch).
std::string graphs_disabled_reason();

// See Backend::record_work. The result must not outlive `be`.
std::unique_ptr<RecordedWork> record_graph(CudaBackend& be, const std::function<void()>& body, std::string& why);

}  // namespace cuda
}  // namespace indetail
