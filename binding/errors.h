// Turns engine exceptions into JavaScript errors with a `code` property; nothing escapes as a
// C++ exception or aborts the process.
#pragma once
#include <napi.h>

#include <exception>
#include <new>
#include <string>

#include "../engine/core/error.h"

namespace indetail {
namespace binding {

struct CaughtError {
  std::string code;
  std::string message;
};

// Call inside a catch (...) block.
inline CaughtError caught_error() {
  try {
    throw;
  } catch (const Error& e) {
    return {error_code(e.kind()), e.what()};
  } catch (const Napi::Error& e) {
    throw;  // already a JavaScript error
  } catch (const std::bad_alloc&) {
    return {"ERR_INDETAIL_OUT_OF_MEMORY", "out of memory"};
  } catch (const std::exception& e) {
    return {"ERR_INDETAIL_INTERNAL", std::string("internal error: ") + e.what()};
  } catch (...) {
    return {"ERR_INDETAIL_INTERNAL", "internal error: unknown exception"};
  }
}

inline Napi::Error make_js_error(Napi::Env env, const CaughtError& c) {
  Napi::Error err = Napi::Error::New(env, c.message);
  err.Value().Set("code", Napi::String::New(env, c.code));
  return err;
}

// Runs f() and rethrows any engine error as a JavaScript error.
template <typename F>
auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw make_js_error(env, caught_error());
  }
}

[[noreturn]] inline void throw_type_error(Napi::Env env, const std::string& message) {
  Napi::TypeError err = Napi::TypeError::New(env, message);
  err.Value().Set("code", Napi::String::New(env, "ERR_INDETAIL_INVALID_ARGUMENT"));
  throw err;
}

// A call on a disposed (or closed) object.
[[noreturn]] inline void throw_disposed(Napi::Env env, const std::string& message) {
  throw make_js_error(env, {"ERR_INDETAIL_DISPOSED", message});
}

}  // namespace binding
}  // namespace indetail
