#include <napi.h>

#include <vector>

#include "registry.h"

namespace indetail {
namespace binding {

namespace {
struct Entry {
  const char* name;
  InitFn fn;
};
std::vector<Entry>& entries() {
  static std::vector<Entry> list;
  return list;
}
}  // namespace

Registrar::Registrar(const char* name, InitFn fn) { entries().push_back({name, fn}); }

void init_all(Napi::Env env, Napi::Object exports) {
  for (const auto& e : entries()) e.fn(env, exports);
}

}  // namespace binding
}  // namespace indetail

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  indetail::binding::init_all(env, exports);
  return exports;
}

NODE_API_MODULE(indetail, Init)
