#include "engine_wrap.h"

#include <cstring>

#include "addon_data.h"
#include "async.h"
#include "convert.h"
#include "ops_table.h"
#include "registry.h"
#include "tensor_wrap.h"
#include "timing.h"

namespace indetail {
namespace binding {

void EngineWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Engine",
                                    {
                                        InstanceAccessor<&EngineWrap::BackendName>("backend"),
                                        InstanceAccessor<&EngineWrap::DeviceName>("device"),
                                        InstanceAccessor<&EngineWrap::ComputeDType>("computeDtype"),
                                        InstanceAccessor<&EngineWrap::Disposed>("disposed"),
                                        InstanceMethod<&EngineWrap::TensorFrom>("tensor"),
                                        InstanceMethod<&EngineWrap::Empty>("empty"),
                                        InstanceMethod<&EngineWrap::Upload>("upload"),
                                        InstanceMethod<&EngineWrap::PrepareWeight>("prepareWeight"),
                                        InstanceMethod<&EngineWrap::MemoryStats>("memoryStats"),
                                        InstanceMethod<&EngineWrap::Synchronize>("synchronize"),
                                        InstanceMethod<&EngineWrap::Op>("op"),
                                        InstanceMethod<&EngineWrap::OpSync>("opSync"),
                                        InstanceMethod<&EngineWrap::TimeOp>("timeOp"),
                                        InstanceMethod<&EngineWrap::Dispose>("dispose"),
                                    });
  addon_data(env).constructors["Engine"] = Napi::Persistent(ctor);
  exports.Set("Engine", ctor);
  exports.Set("opNames", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                Napi::Array a = Napi::Array::New(info.Env());
                uint32_t i = 0;
                for (const auto& n : op_names()) a.Set(i++, Napi::String::New(info.Env(), n));
                return a;
              }));
}

INDETAIL_BINDING(engine, EngineWrap::Init);

// new Engine(backendName: string, optionsJson?: string)
EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  Napi::Env env = info.Env();
  std::string name = info.Length() > 0 ? to_string(info[0], "backend") : "cpu";
  std::string options = info.Length() > 1 && !info[1].IsUndefined() ? to_string(info[1], "options") : "";
  state_ = std::make_shared<EngineState>();
  state_->backend = guard(env, [&] { return create_backend(name, options); });
}

std::shared_ptr<EngineState> EngineWrap::live(Napi::Env env) const {
  if (!state_) throw_disposed(env, "Engine is disposed");
  return state_;
}

std::shared_ptr<EngineState> EngineWrap::State(const Napi::Value& v, const std::string& name) {
  Napi::Env env = v.Env();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addon_data(env).constructors["Engine"].Value()))
    expected(env, "an Engine", name, v);
  return Napi::ObjectWrap<EngineWrap>::Unwrap(v.As<Napi::Object>())->live(env);
}

Napi::Value EngineWrap::BackendName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), live(info.Env())->backend->name());
}
Napi::Value EngineWrap::DeviceName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), device_name(live(info.Env())->backend->device()));
}
Napi::Value EngineWrap::ComputeDType(const Napi::CallbackInfo& info) {
  std::string s = dtype_name(live(info.Env())->backend->compute_dtype());
  for (auto& c : s) c = (char)tolower((unsigned char)c);
  return Napi::String::New(info.Env(), s);
}
Napi::Value EngineWrap::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }

// tensor(data: Float32Array | Int32Array, shape: number[], dtype?: 'f32'|'f16'|'bf16'|'i32')
// Copies host data onto this engine's backend (float data converted to `dtype`, by default the
// backend's compute dtype).
Napi::Value EngineWrap::TensorFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = live(env);
  Shape shape = to_shape(info[1], "shape");
  int64_t n = shape_numel(shape);
  Tensor host;
  if (info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    Napi::Float32Array a = info[0].As<Napi::Float32Array>();
    if ((int64_t)a.ElementLength() != n)
      throw_type_error(env, "data has " + std::to_string(a.ElementLength()) + " elements but shape " + shape_str(shape) +
                                " needs " + std::to_string(n));
    host = Tensor::host(indetail::DType::F32, shape);
    if (n) std::memcpy(host.raw(), a.Data(), n * 4);
  } else if (info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = info[0].As<Napi::Int32Array>();
    if ((int64_t)a.ElementLength() != n)
      throw_type_error(env, "data has " + std::to_string(a.ElementLength()) + " elements but shape " + shape_str(shape) +
                                " needs " + std::to_string(n));
    host = Tensor::host(indetail::DType::I32, shape);
    if (n) std::memcpy(host.raw(), a.Data(), n * 4);
  } else {
    expected(env, "a Float32Array or Int32Array", "data", info[0]);
  }
  indetail::DType dt = host.dtype() == indetail::DType::I32 ? indetail::DType::I32 : st->backend->compute_dtype();
  if (info.Length() > 2 && !info[2].IsUndefined()) dt = to_dtype(info[2], "dtype");
  std::lock_guard<std::mutex> lk(st->mutex);
  Tensor t = guard(env, [&] { return st->backend->upload(host, dt); });
  return TensorWrap::New(env, t, st->backend);
}

// empty(shape, dtype?) — uninitialised memory from the backend's allocator.
Napi::Value EngineWrap::Empty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = live(env);
  Shape shape = to_shape(info[0], "shape");
  indetail::DType dt = info.Length() > 1 && !info[1].IsUndefined() ? to_dtype(info[1], "dtype") : st->backend->compute_dtype();
  std::lock_guard<std::mutex> lk(st->mutex);
  Tensor t = guard(env, [&] { return st->backend->empty(dt, shape); });
  return TensorWrap::New(env, t, st->backend);
}

// upload(hostTensor, dtype?) — a host tensor (e.g. from a Safetensors file) onto this backend.
Napi::Value EngineWrap::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = live(env);
  Tensor src = TensorWrap::FromJs(info[0], "tensor");
  indetail::DType dt = info.Length() > 1 && !info[1].IsUndefined() ? to_dtype(info[1], "dtype")
                       : src.dtype() == indetail::DType::I32 ? indetail::DType::I32
                                                             : st->backend->compute_dtype();
  std::lock_guard<std::mutex> lk(st->mutex);
  Tensor t = guard(env, [&] { return st->backend->upload(src, dt); });
  return TensorWrap::New(env, t, st->backend);
}

// prepareWeight(hostTensor, use: 'linear'|'conv'|'vector'|'table')
Napi::Value EngineWrap::PrepareWeight(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = live(env);
  Tensor src = TensorWrap::FromJs(info[0], "tensor");
  std::string use_s = to_string(info[1], "use");
  WeightUse use;
  if (use_s == "linear") use = WeightUse::Linear;
  else if (use_s == "conv") use = WeightUse::Conv;
  else if (use_s == "vector") use = WeightUse::Vector;
  else if (use_s == "table") use = WeightUse::Table;
  else expected(env, "one of 'linear', 'conv', 'vector', 'table'", "use", info[1]);
  std::lock_guard<std::mutex> lk(st->mutex);
  Tensor t = guard(env, [&] {
    // Host float tensors keep their dtype (a half-precision weight may stay half on the CPU).
    Tensor host = src.device() != Device::CPU                        ? st->backend->download(src)
                  : is_float(src.dtype()) && src.layout() == 0 ? src
                                                                 : to_f32_host(src);
    return st->backend->prepare_weight(host, use);
  });
  return TensorWrap::New(env, t, st->backend);
}

Napi::Value EngineWrap::MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = live(env);
  indetail::MemoryStats s = st->backend->memory_stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("inUse", Napi::Number::New(env, (double)s.in_use));
  o.Set("peak", Napi::Number::New(env, (double)s.peak));
  o.Set("cached", Napi::Number::New(env, (double)s.cached));
  o.Set("weights", Napi::Number::New(env, (double)s.weights));
  return o;
}

Napi::Value EngineWrap::Synchronize(const Napi::CallbackInfo& info) {
  auto st = live(info.Env());
  return run_async(info.Env(), "indetail.engine.synchronize", [st]() -> Finish {
    std::lock_guard<std::mutex> lk(st->mutex);
    st->backend->synchronize();
    return nullptr;
  }, info.This().As<Napi::Object>());
}

// op(name, args, {sync = true}): runs one op of the interface off the JavaScript thread. With
// sync false the promise resolves once the op is queued on the backend's stream (later ops on
// the engine are ordered after it; reading a tensor waits for it), so a denoising step makes no
// device round trip; errors of the op then surface at the next synchronising call.
Napi::Value EngineWrap::Op(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = live(env);
  std::string name = to_string(info[0], "op name");
  PreparedOp op = guard(env, [&] { return prepare_op(name, info[1]); });
  bool sync = true;
  if (info.Length() > 2 && !info[2].IsUndefined()) sync = opt_bool(to_object(info[2], "op options"), "sync", true);
  return run_async(env, "indetail.engine.op", [st, op, sync]() -> Finish {
    std::lock_guard<std::mutex> lk(st->mutex);
    op(*st->backend);
    if (sync) st->backend->synchronize();
    return nullptr;
  }, info.This().As<Napi::Object>());
}

Napi::Value EngineWrap::OpSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = live(env);
  std::string name = to_string(info[0], "op name");
  PreparedOp op = guard(env, [&] { return prepare_op(name, info[1]); });
  std::lock_guard<std::mutex> lk(st->mutex);
  guard(env, [&] {
    op(*st->backend);
    st->backend->synchronize();
    return 0;
  });
  return env.Undefined();
}

// timeOp(name, args, {warmup = 2, iterations = 10, flushL2 = false})
//   -> {seconds: per call (median), min, samples, timer: 'device' | 'host'}
// On a GPU every call is timed with device events, queued back to back without a host sync;
// flushL2 evicts the device cache before each call. Elsewhere each call is timed on the host.
Napi::Value EngineWrap::TimeOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = live(env);
  std::string name = to_string(info[0], "op name");
  PreparedOp op = guard(env, [&] { return prepare_op(name, info[1]); });
  Napi::Object opts = info.Length() > 2 && !info[2].IsUndefined() ? to_object(info[2], "options") : Napi::Object::New(env);
  int warmup = (int)opt_int(opts, "warmup", 2);
  int iterations = (int)opt_int(opts, "iterations", 10);
  bool flush_l2 = opt_bool(opts, "flushL2", false);
  if (iterations < 1) expected(env, "a positive integer", "iterations", opts.Get("iterations"));
  return run_async(env, "indetail.engine.timeOp", [st, op, warmup, iterations, flush_l2]() -> Finish {
    std::lock_guard<std::mutex> lk(st->mutex);
    Backend& b = *st->backend;
    for (int i = 0; i < warmup; ++i) op(b);
    b.synchronize();
    std::vector<double> samples;
    const bool device = b.time_device([&] { op(b); }, iterations, flush_l2, samples);
    if (!device) time_host_calls(b, iterations, [&] { op(b); }, samples);
    return [samples, device](Napi::Env env) -> Napi::Value {
      Napi::Object o = timing_object(env, samples);
      o.Set("timer", Napi::String::New(env, device ? "device" : "host"));
      return o;
    };
  }, info.This().As<Napi::Object>());
}

Napi::Value EngineWrap::Dispose(const Napi::CallbackInfo& info) {
  if (state_) {
    // Work still queued holds its own reference to the state; the backend goes when it finishes.
    state_.reset();
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace indetail
