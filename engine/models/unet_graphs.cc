#include "unet_graphs.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>

#include "../core/error.h"

namespace indetail {

namespace {

// Bounds on the key tables (a key is a few hundred bytes).
constexpr size_t kMaxKeys = 64;

std::atomic<int64_t> g_captures{0}, g_replays{0}, g_eager{0}, g_failures{0}, g_evictions{0};

bool on_backend(const Backend& be, const Tensor& t) {
  return t.defined() && t.device() == be.device() && t.dtype() == be.compute_dtype();
}

// Inputs a graph can take (anything else runs eagerly, which reports what is wrong).
bool recordable_inputs(const Backend& be, const Tensor& sample, const std::vector<float>& timesteps,
                       const Tensor& context, const UNetControl* control, const RefAttention* policy) {
  if (!on_backend(be, sample) || !on_backend(be, context) || sample.dim() != 4) return false;
  if ((int64_t)timesteps.size() != sample.size(0)) return false;
  if (control) {
    for (const Tensor& d : control->down)
      if (!on_backend(be, d)) return false;
    if (!on_backend(be, control->mid)) return false;
  }
  if (policy && policy->ref_kv) {
    if (policy->ref_kv->empty()) return false;
    for (const AttnKV& l : *policy->ref_kv)
      if (!on_backend(be, l.k) || !on_backend(be, l.v)) return false;
  }
  return true;
}

void put_float(std::ostringstream& os, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  os << std::hex << bits << std::dec << ',';
}

// Everything a recorded forward bakes into its kernels' arguments and launch shapes.
std::string graph_key(const Tensor& sample, const Tensor& context, const UNetControl* control,
                      const RefAttention* policy) {
  std::ostringstream os;
  os << dtype_name(sample.dtype()) << " sample" << shape_str(sample.shape()) << " context" << shape_str(context.shape());
  if (control) {
    os << " control";
    for (const Tensor& d : control->down) os << shape_str(d.shape());
    os << " mid" << shape_str(control->mid.shape()) << " scale";
    for (float f : control->frame_scale) put_float(os, f);
  }
  if (policy) {
    os << " mode" << (int)policy->mode << " ref";
    for (int32_t r : policy->ref) os << r << ',';
    os << " lambda";
    put_float(os, policy->lambda_ref);
    put_float(os, policy->lambda_self);
    if (policy->ref_kv) {
      os << " refkv";
      for (const AttnKV& l : *policy->ref_kv) os << shape_str(l.k.shape()) << shape_str(l.v.shape());
    }
    if (policy->record) {
      os << " record";
      for (int32_t r : policy->record_rows) os << r << ',';
    }
  }
  return os.str();
}

Tensor copy_of(Backend& be, const Tensor& t) {
  Tensor out = be.empty(t.dtype(), t.shape());
  be.copy(t, out);
  return out;
}

// Test double for machines without a GPU: with INDETAIL_UNET_GRAPHS_EMULATE=1 on a backend that
// cannot record, "recording" keeps the body and each replay runs it again, so the CPU test suite
// exercises this file's keys, buffers and copies (test/cuda/graphs.test.mjs).
class EmulatedRecording : public RecordedWork {
 public:
  explicit EmulatedRecording(std::function<void()> body) : body_(std::move(body)) {}
  void replay() override { body_(); }
  uint64_t reserved_bytes() const override { return 0; }
  size_t operations() const override { return 1; }

 private:
  std::function<void()> body_;
};

bool emulating(const Backend& be) {
  const char* env = std::getenv("INDETAIL_UNET_GRAPHS_EMULATE");
  return env && std::string(env) == "1" && !be.recording_unsupported_reason().empty();
}

std::string unsupported_reason(const Backend& be) { return emulating(be) ? "" : be.recording_unsupported_reason(); }

}  // namespace

// Graph-owned buffers: the inputs, refilled before each replay; the output and the recorded
// K/V, allocated while recording (in its pool).
struct UNetGraphs::Entry {
  std::unique_ptr<RecordedWork> work;
  Tensor sample, timesteps, context;
  std::vector<Tensor> control_down;
  Tensor control_mid;
  DecoderKV ref_kv;
  // The forward's arguments over the buffers above (what the recorded body reads).
  UNetControl control;
  RefAttention policy;
  bool has_control = false, has_policy = false;
  Tensor out;
  DecoderKV recorded;
  uint64_t last_use = 0;

  uint64_t bytes() const {
    uint64_t b = work ? work->reserved_bytes() : 0;
    for (const Tensor* t : {&sample, &timesteps, &context, &control_mid})
      if (t->defined()) b += t->storage()->bytes();
    for (const Tensor& t : control_down) b += t.storage()->bytes();
    for (const AttnKV& l : ref_kv) b += l.k.storage()->bytes() + l.v.storage()->bytes();
    return b;
  }

  void fill(Backend& be, const Tensor& s, const std::vector<float>& t, const Tensor& c, const UNetControl* control,
            const RefAttention* policy) {
    be.copy(s, sample);
    be.copy(c, context);
    if (control) {
      for (size_t i = 0; i < control->down.size(); ++i) be.copy(control->down[i], control_down[i]);
      be.copy(control->mid, control_mid);
    }
    if (policy && policy->ref_kv)
      for (size_t i = 0; i < ref_kv.size(); ++i) {
        be.copy((*policy->ref_kv)[i].k, ref_kv[i].k);
        be.copy((*policy->ref_kv)[i].v, ref_kv[i].v);
      }
    Tensor host = Tensor::host_uninitialized(DType::F32, {(int64_t)t.size()});
    std::memcpy(host.raw(), t.data(), t.size() * sizeof(float));
    be.upload_into(host, timesteps);
  }
};

UNetGraphs::UNetGraphs(std::shared_ptr<const UNetModel> model, bool enabled, size_t max_graphs)
    : model_(std::move(model)), backend_(model_->backend()), max_graphs_(max_graphs ? max_graphs : 1),
      enabled_(enabled) {}

UNetGraphs::~UNetGraphs() = default;

void UNetGraphs::set_enabled(bool on) {
  enabled_.store(on);
  if (on) return;
  std::unique_lock<std::mutex> lk(m_, std::try_to_lock);
  if (lk.owns_lock()) drop_all();
}

void UNetGraphs::drop_all() {
  graphs_.clear();
  seen_.clear();
  unrecordable_.clear();
  update_sizes();
}

void UNetGraphs::update_sizes() {
  uint64_t bytes = 0;
  int64_t ops = 0;
  for (const auto& kv : graphs_) {
    bytes += kv.second->bytes();
    ops += (int64_t)kv.second->work->operations();
  }
  bytes_.store(bytes);
  operations_.store(ops);
  graph_count_.store((int64_t)graphs_.size());
}

void UNetGraphs::note_failure(const std::string& key, const std::string& why) {
  if (unrecordable_.size() >= kMaxKeys) unrecordable_.clear();
  unrecordable_.insert(key);
  failures_++;
  g_failures++;
  std::lock_guard<std::mutex> lk(failure_m_);
  last_failure_ = why;
}

Tensor UNetGraphs::eager(const Tensor& sample, const std::vector<float>& timesteps, const Tensor& context,
                         const UNetControl* control, const RefAttention* policy, const CancelToken* cancel) {
  Tensor out = model_->forward(sample, timesteps, context, control, policy, cancel);
  eager_++;
  g_eager++;
  return out;
}

Tensor UNetGraphs::forward(const Tensor& sample, const std::vector<float>& timesteps, const Tensor& context,
                           const UNetControl* control, const RefAttention* policy, const CancelToken* cancel) {
  std::lock_guard<std::mutex> lk(m_);
  if (!enabled_.load()) {
    if (!graphs_.empty() || !seen_.empty() || !unrecordable_.empty()) drop_all();
    return eager(sample, timesteps, context, control, policy, cancel);
  }
  Backend& be = *backend_;
  if (!unsupported_reason(be).empty() || !recordable_inputs(be, sample, timesteps, context, control, policy))
    return eager(sample, timesteps, context, control, policy, cancel);
  const std::string key = graph_key(sample, context, control, policy);
  auto it = graphs_.find(key);
  Entry* e = it != graphs_.end() ? it->second.get() : nullptr;
  if (!e) {
    if (unrecordable_.count(key)) return eager(sample, timesteps, context, control, policy, cancel);
    if (!seen_.count(key)) {
      Tensor out = eager(sample, timesteps, context, control, policy, cancel);
      if (seen_.size() >= kMaxKeys) seen_.clear();
      seen_.insert(key);
      return out;
    }
    seen_.erase(key);
    e = record(key, sample, timesteps, context, control, policy);
    if (!e) return eager(sample, timesteps, context, control, policy, cancel);
  }
  check_cancel(cancel, "UNet forward");
  try {
    return replay(*e, sample, timesteps, context, control, policy);
  } catch (const std::exception& ex) {
    // Nothing of the failed replay is returned; the eager run reports an unusable backend.
    graphs_.erase(key);
    update_sizes();
    note_failure(key, std::string("replay failed: ") + ex.what());
    return eager(sample, timesteps, context, control, policy, cancel);
  }
}

UNetGraphs::Entry* UNetGraphs::record(const std::string& key, const Tensor& sample,
                                      const std::vector<float>& timesteps, const Tensor& context,
                                      const UNetControl* control, const RefAttention* policy) {
  Backend& be = *backend_;
  auto e = std::make_unique<Entry>();
  Entry* ep = e.get();
  std::string why;
  try {
    e->sample = be.empty(sample.dtype(), sample.shape());
    e->context = be.empty(context.dtype(), context.shape());
    e->timesteps = be.empty(be.compute_dtype(), {(int64_t)timesteps.size()});
    if (control) {
      for (const Tensor& d : control->down) e->control_down.push_back(be.empty(d.dtype(), d.shape()));
      e->control_mid = be.empty(control->mid.dtype(), control->mid.shape());
    }
    if (policy && policy->ref_kv)
      for (const AttnKV& l : *policy->ref_kv)
        e->ref_kv.push_back({be.empty(l.k.dtype(), l.k.shape()), be.empty(l.v.dtype(), l.v.shape())});
    e->fill(be, sample, timesteps, context, control, policy);

    if (control) {
      e->has_control = true;
      e->control.down = e->control_down;
      e->control.mid = e->control_mid;
      e->control.frame_scale = control->frame_scale;
    }
    if (policy) {
      e->has_policy = true;
      e->policy = *policy;
      e->policy.ref_kv = policy->ref_kv ? &e->ref_kv : nullptr;
      e->policy.record = policy->record ? &e->recorded : nullptr;
    }
    const UNetModel* model = model_.get();
    auto body = [model, ep] {
      ep->out = model->forward_with_device_timesteps(ep->sample, ep->timesteps, ep->context,
                                                     ep->has_control ? &ep->control : nullptr,
                                                     ep->has_policy ? &ep->policy : nullptr);
    };
    if (emulating(be)) e->work = std::make_unique<EmulatedRecording>(body);
    else e->work = be.record_work(body, why);
  } catch (const std::exception& ex) {
    why = std::string("preparing the graph's buffers failed: ") + ex.what();
    e->work.reset();
  }
  if (!e->work) {
    e.reset();
    note_failure(key, why);
    return nullptr;
  }
  captures_++;
  g_captures++;
  while (graphs_.size() >= max_graphs_) {
    auto oldest = graphs_.begin();
    for (auto it = graphs_.begin(); it != graphs_.end(); ++it)
      if (it->second->last_use < oldest->second->last_use) oldest = it;
    graphs_.erase(oldest);
    evictions_++;
    g_evictions++;
  }
  graphs_[key] = std::move(e);
  update_sizes();
  return ep;
}

Tensor UNetGraphs::replay(Entry& e, const Tensor& sample, const std::vector<float>& timesteps, const Tensor& context,
                          const UNetControl* control, const RefAttention* policy) {
  Backend& be = *backend_;
  e.fill(be, sample, timesteps, context, control, policy);
  e.work->replay();
  Tensor out = copy_of(be, e.out);
  if (policy && policy->record) {
    DecoderKV kv(e.recorded.size());
    for (size_t i = 0; i < kv.size(); ++i)
      if (e.recorded[i].k.defined()) kv[i] = {copy_of(be, e.recorded[i].k), copy_of(be, e.recorded[i].v)};
    *policy->record = std::move(kv);
  }
  e.last_use = ++tick_;
  replays_++;
  g_replays++;
  return out;
}

UNetGraphStats UNetGraphs::stats() const {
  UNetGraphStats s;
  s.enabled = enabled_.load();
  s.unsupported = unsupported_reason(*backend_);
  s.graphs = graph_count_.load();
  s.bytes = bytes_.load();
  s.operations = operations_.load();
  s.captures = captures_.load();
  s.replays = replays_.load();
  s.eager = eager_.load();
  s.failures = failures_.load();
  s.evictions = evictions_.load();
  std::lock_guard<std::mutex> lk(failure_m_);
  s.last_failure = last_failure_;
  return s;
}

UNetGraphStats UNetGraphs::totals() {
  UNetGraphStats s;
  s.captures = g_captures.load();
  s.replays = g_replays.load();
  s.eager = g_eager.load();
  s.failures = g_failures.load();
  s.evictions = g_evictions.load();
  return s;
}

}  // namespace indetail
