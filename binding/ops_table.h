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

// Throws a TypeError for an unknown op, an argument the op does not take (naming the op and the
// key), or a bad argument value.
PreparedOp prepare_op(const std::string& name, const Napi::Value& args);
std::vector<std::string> op_names();

}  // namespace binding
}  // namespace indetail
