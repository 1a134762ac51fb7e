// Per-environment state of the addon (constructors of the wrapped classes). Stored as the
// environment's instance data so the addon is safe in worker threads and Electron processes.
#pragma once
#include <napi.h>

#include <map>
#include <string>

namespace indetail {
namespace binding {

struct AddonData {
  std::map<std::string, Napi::FunctionReference> constructors;
};

inline AddonData& addon_data(Napi::Env env) {
  AddonData* d = env.GetInstanceData<AddonData>();
  if (!d) {
    d = new AddonData();
    env.SetInstanceData<AddonData>(d);
  }
  return *d;
}

}  // namespace binding
}  // namespace indetail
