#include "error.h"

namespace indetail {

const char* error_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument: return "ERR_INDETAIL_INVALID_ARGUMENT";
    case ErrorKind::BadFile: return "ERR_INDETAIL_BAD_FILE";
    case ErrorKind::Io: return "ERR_INDETAIL_IO";
    case ErrorKind::Unsupported: return "ERR_INDETAIL_UNSUPPORTED";
    case ErrorKind::Device: return "ERR_INDETAIL_DEVICE";
    case ErrorKind::Cancelled: return "ERR_INDETAIL_CANCELLED";
    case ErrorKind::Internal: return "ERR_INDETAIL_INTERNAL";
  }
  return "ERR_INDETAIL_INTERNAL";
}

}  // namespace indetail
