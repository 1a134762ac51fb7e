// unet.forward's argument object -> UNetInputs (engine/models/unet_inputs.h), checked key by key:
//   { sample, timesteps: number[], context,
//     added?: { textEmbeds, timeIds: number[] },             // SDXL: N × T time ids, frame by frame
//     control?: { down: Tensor[], mid, frameScale?: number[] },
//     attention?: { mode, ref, lambdaRef, lambdaSelf },
//     recordKV?: { cache, step, rows: number[] },              // store these rows' decoder attn1 K/V at step
//     refKV?: { cache, step },                                 // reference K/V from the cache; ref indexes its rows
//     cancel?: CancelToken,                                   // polled between blocks (cancel_wrap.h)
//     sync?: boolean }
// A key outside these is rejected by name.
#pragma once
#include <napi.h>

#include <memory>

#include "../engine/core/cancel.h"
#include "../engine/models/kv_cache.h"
#include "../engine/models/unet.h"
#include "engine_wrap.h"

namespace indetail {
namespace binding {

struct KVTarget {
  std::shared_ptr<ImagePromptKVCache> cache;
  int64_t step = -1;
};

struct UNetForwardCall {
  UNetInputs inputs;  // attention.record / ref_kv are set on the worker thread from the targets below
  KVTarget record, ref;
  std::shared_ptr<const CancelToken> cancel;  // keeps inputs.cancel alive until the call ends
  bool sync = true;  // false: resolve once the step is queued on the stream (see EngineWrap::Op)
};

UNetForwardCall unet_forward_from_js(const Napi::Value& args, const EngineState& st, const UNetModel& model);

}  // namespace binding
}  // namespace indetail
