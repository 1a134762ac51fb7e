// Each binding file registers its exports with a static Registrar, so adding a file adds its
// API without touching addon.cc.
#pragma once
#include <napi.h>

namespace indetail {
namespace binding {

using InitFn = void (*)(Napi::Env env, Napi::Object exports);

struct Registrar {
  Registrar(const char* name, InitFn fn);
};

void init_all(Napi::Env env, Napi::Object exports);

}  // namespace binding
}  // namespace indetail

#define INDETAIL_BINDING(name, fn) static ::indetail::binding::Registrar indetail_registrar_##name(#name, fn)
