// Argument checks shared by every backend's ops, so the messages read the same everywhere.
#pragma once
#include <string>

#include "core/error.h"
#include "core/tensor.h"

namespace indetail {

inline void check_device(const char* op, const char* arg, const Tensor& t, Device d) {
  check_arg(t.defined(), op, ": ", arg, " is missing");
  check_arg(t.device() == d, op, ": ", arg, " is ", t.describe(), " but this backend runs on ", device_name(d));
}

inline void check_dtype(const char* op, const char* arg, const Tensor& t, DType dt) {
  check_arg(t.dtype() == dt, op, ": ", arg, " must be ", dtype_name(dt), ", got ", t.describe());
}

inline void check_shape(const char* op, const char* arg, const Tensor& t, const Shape& expect) {
  check_arg(t.shape() == expect, op, ": ", arg, " must have shape ", shape_str(expect), ", got ", t.describe());
}

inline void check_same_shape(const char* op, const char* a_name, const Tensor& a, const char* b_name, const Tensor& b) {
  check_arg(a.shape() == b.shape(), op, ": ", a_name, " ", a.describe(), " and ", b_name, " ", b.describe(),
            " must have the same shape");
}

inline void check_rank(const char* op, const char* arg, const Tensor& t, int rank) {
  check_arg(t.dim() == rank, op, ": ", arg, " must have ", rank, " dimensions, got ", t.describe());
}

}  // namespace indetail
