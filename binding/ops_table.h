// The op interface, callable by name from JavaScript (tests, benchmarks, the parity case table).
// Arguments are read on the JavaScript thread into a closure that runs on a worker thread.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "../engine/backend.h"

namespace indetail {
namespace binding {

using PreparedOp = std::function<void(Backend&)>;

// Throws a TypeError for an unknown op or bad arguments.
PreparedOp prepare_op(const std::string& name, const Napi::Object& args);
std::vector<std::string> op_names();

}  // namespace binding
}  // namespace indetail
