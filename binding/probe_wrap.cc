// probeCuda(): the CUDA device probe and self-test, run once per process on a libuv worker so
// the first look at the GPU (driver load, context creation: up to seconds) never blocks the
// JavaScript thread. Resolves with the reason CUDA is unusable ("" when it is usable); the
// synchronous backends()/buildInfo() return the cached result afterwards.
#include <napi.h>

#include "../engine/backend.h"
#include "async.h"
#include "registry.h"

namespace indetail {
namespace binding {

namespace {

Napi::Value ProbeCuda(const Napi::CallbackInfo& info) {
  return run_async(info.Env(), "indetail.cuda.probe", []() -> Finish {
    std::string reason = cuda_unavailable_reason();
    return [reason](Napi::Env env) -> Napi::Value { return Napi::String::New(env, reason); };
  });
}

void Init(Napi::Env env, Napi::Object exports) { exports.Set("probeCuda", Napi::Function::New(env, ProbeCuda)); }

}  // namespace

INDETAIL_BINDING(probe, Init);

}  // namespace binding
}  // namespace indetail
