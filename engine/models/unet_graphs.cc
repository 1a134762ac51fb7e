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
bool recordable_inputs(const Backend& be, const UNetInputs& in) {
  if (!on_backend(be, in.sample) || !on_backend(be, in.context) || in.sample.dim() != 4) return false;
  if ((int64_t)in.timesteps.size() != in.sample.size(0)) return false;
  if (in.added.present() && !on_backend(be, in.added.text_embeds)) return false;
  if (in.control) {
    for (const Tensor& d : in.control->down)
      if (!on_backend(be, d)) return false;
    if (!on_backend(be, in.control->mid)) return false;
  }
  if (const DecoderKV* kv = in.attention.ref_kv) {
    if (kv->empty()) return false;
    for (const AttnKV& l : *kv)
      if (!on_backend(be, l.k) || !on_backend(be, l.v)) return false;
  }
  return true;
}

void put_float(std::ostringstream& os, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  os << std::hex << bits << std::dec << ',';
}

// Everything of the inputs a recorded forward bakes into its kernels' arguments and launch shapes
// (the values of the sample, context, text embeddings, residuals, timesteps and time ids are refilled).
std::string graph_key(const UNetInputs& in) {
  std::ostringstream os;
  os << dtype_name(in.sample.dtype()) << " sample" << shape_str(in.sample.shape()) << " context"
     << shape_str(in.context.shape());
  if (in.added.present())
    os << " text_embeds" << shape_str(in.added.text_embeds.shape()) << " time_ids" << in.added.time_ids.size();
  if (in.control) {
    os << " control";
    for (const Tensor& d : in.control->down) os << shape_str(d.shape());
    os << " mid" << shape_str(in.control->mid.shape()) << " scale";
    for (float f : in.control->frame_scale) put_float(os, f);
  }
  const RefAttention& policy = in.attention;
  os << " mode" << (int)policy.mode << " ref";
  for (int32_t r : policy.ref) os << r << ',';
  os << " lambda";
  put_float(os, policy.lambda_ref);
  put_float(os, policy.lambda_self);
  if (policy.ref_kv) {
    os << " refkv";
    for (const AttnKV& l : *policy.ref_kv) os << shape_str(l.k.shape()) << shape_str(l.v.shape());
  }
  if (policy.record) {
    os << " record";
    for (int32_t r : policy.record_rows) os << r << ',';
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

Tensor empty_like(Backend& be, const Tensor& t) { return be.empty(t.dtype(), t.shape()); }

void upload_floats_into(Backend& be, const std::vector<float>& v, Tensor& dst) {
  Tensor host = Tensor::host_uninitialized(DType::F32, {(int64_t)v.size()});
  std::memcpy(host.raw(), v.data(), v.size() * sizeof(float));
  be.upload_into(host, dst);
}

}  // namespace

// Graph-owned buffers: `inputs` are the caller's UNetInputs over buffers of the same shapes (what
// the recorded body reads), refilled before each replay; the output and the recorded K/V are
// allocated while recording (in its pool).
struct UNetGraphs::Entry {
  std::unique_ptr<RecordedWork> work;
  UNetInputs inputs;
  UNetScalars scalars;
  DecoderKV ref_kv;
  Tensor out;
  DecoderKV recorded;
  uint64_t last_use = 0;

  // Buffers shaped like `in`, and the policy pointing at this entry's K/V.
  void allocate(Backend& be, const UNetInputs& in) {
    inputs = in;
    inputs.cancel = nullptr;  // the caller's token lives only as long as its call; a recording runs to the end
    inputs.sample = empty_like(be, in.sample);
    inputs.context = empty_like(be, in.context);
    scalars.timesteps = be.empty(be.compute_dtype(), {(int64_t)in.timesteps.size()});
    if (in.added.present()) {
      inputs.added.text_embeds = empty_like(be, in.added.text_embeds);
      scalars.time_ids = be.empty(be.compute_dtype(), {(int64_t)in.added.time_ids.size()});
    }
    if (in.control) {
      for (Tensor& d : inputs.control->down) d = empty_like(be, d);
      inputs.control->mid = empty_like(be, in.control->mid);
    }
    if (in.attention.ref_kv)
      for (const AttnKV& l : *in.attention.ref_kv) ref_kv.push_back({empty_like(be, l.k), empty_like(be, l.v)});
    inputs.attention.ref_kv = in.attention.ref_kv ? &ref_kv : nullptr;
    inputs.attention.record = in.attention.record ? &recorded : nullptr;
  }

  uint64_t bytes() const {
    uint64_t b = work ? work->reserved_bytes() : 0;
    for (const Tensor* t : {&inputs.sample, &inputs.context, &inputs.added.text_embeds, &scalars.timesteps, &scalars.time_ids})
      if (t->defined()) b += t->storage()->bytes();
    if (inputs.control) {
      for (const Tensor& t : inputs.control->down) b += t.storage()->bytes();
      b += inputs.control->mid.storage()->bytes();
    }
    for (const AttnKV& l : ref_kv) b += l.k.storage()->bytes() + l.v.storage()->bytes();
    return b;
  }

  void fill(Backend& be, const UNetInputs& in) {
    be.copy(in.sample, inputs.sample);
    be.copy(in.context, inputs.context);
    if (in.added.present()) be.copy(in.added.text_embeds, inputs.added.text_embeds);
    if (in.control) {
      for (size_t i = 0; i < in.control->down.size(); ++i) be.copy(in.control->down[i], inputs.control->down[i]);
      be.copy(in.control->mid, inputs.control->mid);
    }
    if (in.attention.ref_kv)
      for (size_t i = 0; i < ref_kv.size(); ++i) {
        be.copy((*in.attention.ref_kv)[i].k, ref_kv[i].k);
        be.copy((*in.attention.ref_kv)[i].v, ref_kv[i].v);
      }
    upload_floats_into(be, in.timesteps, scalars.timesteps);
    if (in.added.present()) upload_floats_into(be, in.added.time_ids, scalars.time_ids);
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

Tensor UNetGraphs::eager(const UNetInputs& in) {
  Tensor out = model_->forward(in);
  eager_++;
  g_eager++;
  return out;
}

Tensor UNetGraphs::forward(const UNetInputs& in) {
  std::lock_guard<std::mutex> lk(m_);
  if (!enabled_.load()) {
    if (!graphs_.empty() || !seen_.empty() || !unrecordable_.empty()) drop_all();
    return eager(in);
  }
  Backend& be = *backend_;
  if (!unsupported_reason(be).empty() || !recordable_inputs(be, in)) return eager(in);
  const std::string key = graph_key(in);
  auto it = graphs_.find(key);
  Entry* e = it != graphs_.end() ? it->second.get() : nullptr;
  if (!e) {
    if (unrecordable_.count(key)) return eager(in);
    if (!seen_.count(key)) {
      Tensor out = eager(in);
      if (seen_.size() >= kMaxKeys) seen_.clear();
      seen_.insert(key);
      return out;
    }
    seen_.erase(key);
    e = record(key, in);
    if (!e) return eager(in);
  }
  check_cancel(in.cancel, "UNet forward");
  try {
    return replay(*e, in);
  } catch (const std::exception& ex) {
    // Nothing of the failed replay is returned; the eager run reports an unusable backend.
    graphs_.erase(key);
    update_sizes();
    note_failure(key, std::string("replay failed: ") + ex.what());
    return eager(in);
  }
}

UNetGraphs::Entry* UNetGraphs::record(const std::string& key, const UNetInputs& in) {
  Backend& be = *backend_;
  auto e = std::make_unique<Entry>();
  Entry* ep = e.get();
  std::string why;
  try {
    e->allocate(be, in);
    e->fill(be, in);
    const UNetModel* model = model_.get();
    auto body = [model, ep] { ep->out = model->forward(ep->inputs, ep->scalars); };
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

Tensor UNetGraphs::replay(Entry& e, const UNetInputs& in) {
  Backend& be = *backend_;
  e.fill(be, in);
  e.work->replay();
  Tensor out = copy_of(be, e.out);
  if (in.attention.record) {
    DecoderKV kv(e.recorded.size());
    for (size_t i = 0; i < kv.size(); ++i)
      if (e.recorded[i].k.defined()) kv[i] = {copy_of(be, e.recorded[i].k), copy_of(be, e.recorded[i].v)};
    *in.attention.record = std::move(kv);
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
