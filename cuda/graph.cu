#include "graph.h"

#include <cstdlib>
#include <exception>

#include "cuda_check.h"

namespace indetail {
namespace cuda {

namespace {

class CudaGraph : public RecordedWork {
 public:
  CudaGraph(CudaBackend& be, cudaGraphExec_t exec, std::shared_ptr<DevicePool> pool, size_t nodes)
      : be_(be), pool_(std::move(pool)), exec_(exec), nodes_(nodes) {}
  ~CudaGraph() override {
    // An in-flight launch is not cut short: the driver frees the executable when it completes.
    // The pool's blocks return to the shared cache, where only work queued later on the same
    // stream can get them.
    cudaGraphExecDestroy(exec_);
    cudaGetLastError();
  }
  void replay() override {
    be_.ensure_usable();
    cudaError_t err = cudaGraphLaunch(exec_, be_.stream());
    if (err != cudaSuccess) {
      be_.note_error(err, "a CUDA graph launch");
      cudaGetLastError();
      fail(ErrorKind::Device, "CUDA graph launch failed: ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
    }
  }
  uint64_t reserved_bytes() const override { return pool_->reserved(); }
  size_t operations() const override { return nodes_; }

 private:
  CudaBackend& be_;
  std::shared_ptr<DevicePool> pool_;
  cudaGraphExec_t exec_;
  size_t nodes_;
};

std::string describe(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")";
}

// Ends the calling thread's allocation pool however recording ends.
struct PoolScope {
  DeviceAllocator& alloc;
  ~PoolScope() { alloc.end_pool(); }
};

// Marks the calling thread as recording while it holds the backend's capture gate.
struct RecordingScope {
  std::lock_guard<std::mutex> gate;
  explicit RecordingScope(CudaBackend& be) : gate(be.capture_gate()) { CudaBackend::recording_on_this_thread() = true; }
  ~RecordingScope() { CudaBackend::recording_on_this_thread() = false; }
};

}  // namespace

std::string graphs_disabled_reason() {
  const char* env = std::getenv("INDETAIL_CUDA_GRAPHS");
  if (env && std::string(env) == "0") return "CUDA graphs are disabled by INDETAIL_CUDA_GRAPHS=0";
  return "";
}

std::unique_ptr<RecordedWork> record_graph(CudaBackend& be, const std::function<void()>& body, std::string& why) {
  why = graphs_disabled_reason();
  if (!why.empty()) return nullptr;
  be.ensure_usable();
  check_arg(!CudaBackend::recording_on_this_thread(), "CUDA graphs: recording inside a recording");
  RecordingScope recording(be);  // other threads' downloads wait; released after the capture has ended
  cudaStream_t stream = be.stream();
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  if (status != cudaStreamCaptureStatusNone) {
    why = "the engine's stream is already being captured";
    return nullptr;
  }
  std::shared_ptr<DevicePool> pool = be.allocator().begin_pool();
  PoolScope scope{be.allocator()};  // destroyed before `pool`: the pool then dies unless a graph keeps it
  cudaError_t err = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
  if (err != cudaSuccess) {
    cudaGetLastError();
    why = "cannot start a CUDA graph capture: " + describe(err);
    return nullptr;
  }
  std::string failure;
  try {
    body();
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "an unknown exception";
  }
  cudaGraph_t graph = nullptr;
  err = cudaStreamEndCapture(stream, &graph);  // always leaves capture mode on this thread's stream
  cudaGetLastError();
  status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &status) != cudaSuccess || status != cudaStreamCaptureStatusNone) {
    // Cannot happen with a same-thread capture; refuse further work rather than run ops into it.
    cudaGetLastError();
    be.mark_broken("the stream could not leave CUDA graph capture mode");
    if (graph) cudaGraphDestroy(graph);
    why = "the CUDA stream could not leave capture mode";
    return nullptr;
  }
  if (!failure.empty() || err != cudaSuccess || !graph) {
    if (graph) cudaGraphDestroy(graph);
    why = !failure.empty() ? "recording failed: " + failure
                           : "the CUDA graph capture failed: " + describe(err == cudaSuccess ? cudaErrorUnknown : err);
    return nullptr;
  }
  size_t nodes = 0;
  cudaGraphGetNodes(graph, nullptr, &nodes);
  cudaGraphExec_t exec = nullptr;
  err = cudaGraphInstantiateWithFlags(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (err != cudaSuccess) {
    be.note_error(err, "instantiating a CUDA graph");
    cudaGetLastError();
    why = "instantiating the CUDA graph failed: " + describe(err);
    return nullptr;
  }
  cudaGetLastError();
  return std::make_unique<CudaGraph>(be, exec, std::move(pool), nodes);
}

}  // namespace cuda

std::string CudaBackend::recording_unsupported_reason() const { return cuda::graphs_disabled_reason(); }

std::unique_ptr<RecordedWork> CudaBackend::record_work(const std::function<void()>& body, std::string& why) {
  return cuda::record_graph(*this, body, why);
}

}  // namespace indetail
