#include "tensor.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "convert.h"
#include "error.h"

namespace indetail {

const char* device_name(Device d) { return d == Device::CUDA ? "cuda" : "cpu"; }

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Tensor::Tensor(std::shared_ptr<Storage> storage, size_t byte_offset, DType dtype, Shape shape)
    : storage_(std::move(storage)), offset_(byte_offset), dtype_(dtype), shape_(std::move(shape)) {
  for (int64_t d : shape_) check_arg(d >= 0, "negative dimension in shape ", shape_str(shape_));
  if (storage_) {
    check_arg(offset_ + nbytes() <= storage_->bytes(), "tensor ", describe(), " does not fit its storage (",
              storage_->bytes(), " bytes at offset ", offset_, ")");
  }
}

namespace {
constexpr size_t kMapped = 16u << 10;  // blocks from here on are mappings of their own
constexpr size_t kHuge = 2u << 20;     // blocks of 2·kHuge and more: 2 MiB aligned, huge pages

// The length of the mapping behind a mapped block of `bytes`.
size_t mapped_length(size_t bytes) { return bytes >= 2 * kHuge ? (bytes + kHuge - 1) / kHuge * kHuge : bytes; }
}  // namespace

void* alloc_host_bytes(size_t bytes) {
  if (bytes < kMapped) return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (bytes < 2 * kHuge) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  // Over-map by kHuge and trim both ends so the block starts on a 2 MiB boundary (transparent
  // huge pages only back aligned 2 MiB ranges).
  const size_t rounded = mapped_length(bytes);
  void* m = mmap(nullptr, rounded + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const uintptr_t base = reinterpret_cast<uintptr_t>(m), aligned = (base + kHuge - 1) / kHuge * kHuge;
  if (aligned > base) munmap(m, aligned - base);
  if (base + kHuge > aligned) munmap(reinterpret_cast<void*>(aligned + rounded), base + kHuge - aligned);
  void* p = reinterpret_cast<void*>(aligned);
  madvise(p, rounded, MADV_HUGEPAGE);
  return p;
}

void free_host_bytes(void* p, size_t bytes) {
  if (!p) return;
  if (bytes < kMapped) std::free(p);
  else munmap(p, mapped_length(bytes));
}

Tensor Tensor::host(DType dtype, const Shape& shape) {
  Tensor t = host_uninitialized(dtype, shape);
  std::memset(t.storage_->data(), 0, t.storage_->bytes());
  return t;
}

Tensor Tensor::host_uninitialized(DType dtype, const Shape& shape) {
  size_t bytes = (size_t)shape_numel(shape) * dtype_size(dtype);
  size_t alloc = (bytes + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  void* p = alloc_host_bytes(alloc);
  if (!p) fail(ErrorKind::Io, "out of host memory allocating ", bytes, " bytes for ", dtype_name(dtype), shape_str(shape));
  auto storage = std::make_shared<Storage>(p, alloc, Device::CPU, [alloc](void* q) { free_host_bytes(q, alloc); });
  return Tensor(storage, 0, dtype, shape);
}

int64_t Tensor::size(int d) const {
  int n = dim();
  int i = d < 0 ? d + n : d;
  check_arg(i >= 0 && i < n, "dimension ", d, " out of range for ", describe());
  return shape_[i];
}

Tensor Tensor::with_layout(uint32_t layout) const {
  Tensor t = *this;
  t.layout_ = layout;
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check_arg(infer < 0, "reshape of ", describe(), " to ", shape_str(shape), ": more than one -1");
      infer = (int)i;
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    check_arg(known > 0 && numel() % known == 0, "cannot reshape ", describe(), " to ", shape_str(shape));
    shape[infer] = numel() / known;
  }
  check_arg(shape_numel(shape) == numel(), "cannot reshape ", describe(), " to ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice0(int64_t start, int64_t count) const {
  check_arg(dim() >= 1 && start >= 0 && count >= 0 && start + count <= shape_[0], "slice [", start, ", ",
            start + count, ") out of range for ", describe());
  Tensor t = *this;
  t.shape_[0] = count;
  t.offset_ += (size_t)(start * (numel() / (shape_[0] ? shape_[0] : 1))) * dtype_size(dtype_);
  return t;
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " on " + device_name(device());
}

Tensor to_f32_host(const Tensor& t) {
  check_arg(t.device() == Device::CPU, "to_f32_host needs a host tensor, got ", t.describe());
  Tensor out = Tensor::host_uninitialized(DType::F32, t.shape());
  float* o = out.data<float>();
  int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::F32: std::memcpy(o, t.raw(), n * 4); break;
    case DType::F16: convert_f16_to_f32(t.data<uint16_t>(), o, (size_t)n); break;
    case DType::BF16: convert_bf16_to_f32(t.data<uint16_t>(), o, (size_t)n); break;
    case DType::I32: {
      const int32_t* s = t.data<int32_t>();
      for (int64_t i = 0; i < n; ++i) o[i] = (float)s[i];
      break;
    }
    case DType::I64: {
      const int64_t* s = t.data<int64_t>();
      for (int64_t i = 0; i < n; ++i) o[i] = (float)s[i];
      break;
    }
    case DType::U8: {
      const uint8_t* s = t.data<uint8_t>();
      for (int64_t i = 0; i < n; ++i) o[i] = (float)s[i];
      break;
    }
  }
  return out;
}

Tensor convert_host(const Tensor& t, DType to) {
  check_arg(t.device() == Device::CPU && t.dtype() == DType::F32, "convert_host needs a host F32 tensor, got ",
            t.describe());
  if (to == DType::F32) return t;
  check_arg(to == DType::F16 || to == DType::BF16, "convert_host: unsupported target ", dtype_name(to));
  Tensor out = Tensor::host_uninitialized(to, t.shape());
  const float* s = t.data<float>();
  uint16_t* o = out.data<uint16_t>();
  int64_t n = t.numel();
  if (to == DType::F16) {
    convert_f32_to_f16(s, o, (size_t)n);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(s[i]);
  }
  return out;
}

}  // namespace indetail
