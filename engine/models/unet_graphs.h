// UNet forwards replayed from recorded work (CUDA graphs): one graph launch per denoising step
// instead of ~1000 kernel launches. A graph is recorded per key (everything of the UNetInputs baked
// into its kernel arguments and shapes: the inputs' shapes and dtype, the added conditions'
// shapes and time-id count, the attention mode, ref array and lambdas, the ControlNet residuals'
// shapes and frame scales, the cached reference K/V's shapes, the rows recorded) at the second
// forward with that key; the first runs eagerly (it also does the kernels' one-time setup outside
// the capture). Graph-owned buffers hold the inputs (refilled by device copies before each replay;
// the timesteps and time ids through pinned memory), the output and the recorded K/V (copied into
// fresh tensors after each replay, so the caller owns its results). A
// key whose recording fails runs eagerly from then on. A few graphs are kept per UNet (least
// recently used evicted). Backends that cannot record (the CPU) always run eagerly.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "unet.h"

namespace indetail {

struct UNetGraphStats {
  bool enabled = false;     // graphs requested for this UNet
  std::string unsupported;  // why the backend cannot record ("" = it can)
  int64_t graphs = 0;       // graphs held now
  uint64_t bytes = 0;       // device memory they hold (recording pools + input/output buffers)
  int64_t operations = 0;   // recorded operations of the graphs held
  int64_t captures = 0, replays = 0, eager = 0, failures = 0, evictions = 0;
  std::string last_failure;
};

class UNetGraphs {
 public:
  static constexpr size_t kDefaultMaxGraphs = 8;
  UNetGraphs(std::shared_ptr<const UNetModel> model, bool enabled, size_t max_graphs = kDefaultMaxGraphs);
  ~UNetGraphs();

  // UNetModel::forward (in.attention.ref_kv and .record included), through a graph when it can.
  // The caller holds the engine's lock. in.cancel is polled between the blocks of an eager
  // forward, and once before a replay (a graph runs as one launch).
  Tensor forward(const UNetInputs& in);

  // Off: the next forward (or this call, when no forward runs) drops every graph.
  void set_enabled(bool on);
  bool enabled() const { return enabled_.load(); }
  UNetGraphStats stats() const;
  // Counters over every UNet of the process (graphs/bytes/operations are not summed).
  static UNetGraphStats totals();

 private:
  struct Entry;
  Tensor eager(const UNetInputs& in);
  // Records the key's graph (nullptr when recording failed: the key then stays eager).
  Entry* record(const std::string& key, const UNetInputs& in);
  Tensor replay(Entry& e, const UNetInputs& in);
  void drop_all();
  void update_sizes();
  void note_failure(const std::string& key, const std::string& why);

  std::shared_ptr<const UNetModel> model_;
  std::shared_ptr<Backend> backend_;  // outlives the graphs
  const size_t max_graphs_;
  std::atomic<bool> enabled_;

  std::mutex m_;  // the tables below; held for a whole forward
  std::map<std::string, std::unique_ptr<Entry>> graphs_;
  std::set<std::string> seen_;          // keys run once eagerly, recorded at their next forward
  std::set<std::string> unrecordable_;  // keys whose recording failed
  uint64_t tick_ = 0;

  std::atomic<int64_t> captures_{0}, replays_{0}, eager_{0}, failures_{0}, evictions_{0};
  std::atomic<int64_t> graph_count_{0}, operations_{0};
  std::atomic<uint64_t> bytes_{0};
  mutable std::mutex failure_m_;
  std::string last_failure_;
};

}  // namespace indetail
