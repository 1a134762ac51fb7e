// Engine errors. Every failure the engine can detect is thrown as indetail::Error;
// the binding turns it into a JavaScript Error whose `code` is derived from the kind.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace indetail {

enum class ErrorKind {
  InvalidArgument,  // bad shapes, bad parameters: the caller's mistake
  BadFile,          // a file that exists but is not what it claims to be (corrupt, truncated, wrong format)
  Io,               // the operating system refused (missing file, permission, mmap failure)
  Unsupported,      // valid input this engine does not implement (config value, dtype, device)
  Device,           // CUDA runtime errors, out of memory on the device
  Cancelled,        // the caller asked to stop
  Internal,         // a bug in this engine
};

const char* error_code(ErrorKind kind);  // "ERR_INDETAIL_INVALID_ARGUMENT", ...

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, T&& first, Rest&&... rest) {
  os << std::forward<T>(first);
  append(os, std::forward<Rest>(rest)...);
}
}  // namespace detail

// Builds a message from its parts: fail(ErrorKind::BadFile, "tensor '", name, "' ends past the file").
template <typename... Parts>
[[noreturn]] void fail(ErrorKind kind, Parts&&... parts) {
  std::ostringstream os;
  detail::append(os, std::forward<Parts>(parts)...);
  throw Error(kind, os.str());
}

template <typename... Parts>
void check_arg(bool ok, Parts&&... parts) {
  if (!ok) fail(ErrorKind::InvalidArgument, std::forward<Parts>(parts)...);
}

}  // namespace indetail
