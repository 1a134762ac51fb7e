#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "error.h"
#include "json.h"

namespace indetail {

namespace {

// Item sizes of every dtype the safetensors format defines; names outside this table are rejected.
bool safetensors_itemsize(const std::string& dtype, uint64_t* bytes) {
  static const struct { const char* name; uint64_t size; } table[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},  {"U16", 2},  {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8},
  };
  for (const auto& e : table) {
    if (dtype == e.name) {
      *bytes = e.size;
      return true;
    }
  }
  return false;
}

struct Mapping {
  void* addr;
  size_t bytes;
};

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP) fail(ErrorKind::Io, path, ": is a symbolic link loop");
    fail(ErrorKind::Io, path, ": cannot open: ", std::strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail(ErrorKind::Io, path, ": cannot stat: ", std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    const char* kind = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "something else";
    fail(ErrorKind::BadFile, path, ": is ", kind, ", not a regular file");
  }
  uint64_t size = (uint64_t)st.st_size;
  if (size < 8) {
    ::close(fd);
    fail(ErrorKind::BadFile, path, ": file is ", size, " bytes, too short to hold a safetensors header length");
  }
  void* addr = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  ::close(fd);
  if (addr == MAP_FAILED) fail(ErrorKind::Io, path, ": cannot memory-map: ", std::strerror(map_errno));
  auto mapping = std::make_shared<Mapping>(Mapping{addr, (size_t)size});
  auto unmap_guard = std::shared_ptr<void>(nullptr, [mapping](void*) { munmap(mapping->addr, mapping->bytes); });

  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->file_bytes_ = size;
  f->map_ = static_cast<const uint8_t*>(addr);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | f->map_[i];
  if (header_len > kMaxHeaderBytes)
    fail(ErrorKind::BadFile, path, ": header length ", header_len, " bytes exceeds the limit of ", kMaxHeaderBytes,
         " bytes (not a safetensors file, or corrupt)");
  if (8 + header_len > size)
    fail(ErrorKind::BadFile, path, ": header length ", header_len, " bytes runs past the end of the file (",
         size, " bytes); the file is truncated or not a safetensors file");
  if (header_len == 0) fail(ErrorKind::BadFile, path, ": empty header");
  f->header_bytes_ = header_len;

  json::Value root;
  std::string perr;
  if (!json::parse(reinterpret_cast<const char*>(f->map_ + 8), header_len, &root, &perr, 8))
    fail(ErrorKind::BadFile, path, ": header is not valid JSON: ", perr);
  if (!root.is_object()) fail(ErrorKind::BadFile, path, ": header must be a JSON object, found ", json::type_name(root.type()));

  uint64_t data_bytes = size - 8 - header_len;
  for (const auto& kv : root.members()) {
    const std::string& name = kv.first;
    const json::Value& v = kv.second;
    if (name == "__metadata__") {
      if (!v.is_object()) fail(ErrorKind::BadFile, path, ": __metadata__ must be an object of strings");
      for (const auto& m : v.members()) {
        if (!m.second.is_string())
          fail(ErrorKind::BadFile, path, ": __metadata__ value for '", m.first, "' is not a string");
        f->metadata_[m.first] = m.second.as_string();
      }
      continue;
    }
    if (f->index_.count(name)) fail(ErrorKind::BadFile, path, ": tensor '", name, "' is declared twice");
    if (!v.is_object()) fail(ErrorKind::BadFile, path, ": tensor '", name, "': entry must be an object");
    const json::Value* dt = v.find("dtype");
    const json::Value* sh = v.find("shape");
    const json::Value* off = v.find("data_offsets");
    if (!dt || !dt->is_string()) fail(ErrorKind::BadFile, path, ": tensor '", name, "': missing or non-string dtype");
    if (!sh || !sh->is_array()) fail(ErrorKind::BadFile, path, ": tensor '", name, "': missing or non-array shape");
    if (!off || !off->is_array() || off->items().size() != 2)
      fail(ErrorKind::BadFile, path, ": tensor '", name, "': data_offsets must be an array of two integers");

    SafetensorsEntry e;
    e.name = name;
    e.dtype_name = dt->as_string();
    uint64_t itemsize = 0;
    if (!safetensors_itemsize(e.dtype_name, &itemsize))
      fail(ErrorKind::BadFile, path, ": tensor '", name, "': unknown dtype '", e.dtype_name, "'");
    e.dtype_supported = dtype_from_name(e.dtype_name, &e.dtype);

    // numel with overflow detection: a declared shape may be absurdly large.
    unsigned __int128 numel = 1;
    for (const auto& d : sh->items()) {
      if (!d.is_int() || d.as_int() < 0)
        fail(ErrorKind::BadFile, path, ": tensor '", name, "': shape entries must be non-negative integers");
      e.shape.push_back(d.as_int());
      numel *= (uint64_t)d.as_int();
      if (numel > ((unsigned __int128)1 << 64))
        fail(ErrorKind::BadFile, path, ": tensor '", name, "': declared shape ", shape_str(e.shape),
             "... is impossibly large");
    }
    for (const auto& o : off->items())
      if (!o.is_int() || o.as_int() < 0)
        fail(ErrorKind::BadFile, path, ": tensor '", name, "': data_offsets must be non-negative integers");
    e.begin = (uint64_t)off->items()[0].as_int();
    e.end = (uint64_t)off->items()[1].as_int();
    if (e.end < e.begin)
      fail(ErrorKind::BadFile, path, ": tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] end before they begin");
    if (e.end > data_bytes)
      fail(ErrorKind::BadFile, path, ": tensor '", name, "': data_offsets [", e.begin, ", ", e.end,
           "] run past the data section (", data_bytes, " bytes); the file is truncated or corrupt");
    unsigned __int128 expect = numel * itemsize;
    if (expect != (unsigned __int128)(e.end - e.begin))
      fail(ErrorKind::BadFile, path, ": tensor '", name, "': shape ", shape_str(e.shape), " of ", e.dtype_name,
           " needs ", (uint64_t)std::min<unsigned __int128>(expect, ~0ull), " bytes but data_offsets give ",
           e.end - e.begin);
    f->index_[name] = 0;
    f->entries_.push_back(std::move(e));
  }

  // Overlap check on the byte ranges (empty tensors overlap nothing).
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : f->entries_)
    if (e.end > e.begin) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsEntry* a, const SafetensorsEntry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      fail(ErrorKind::BadFile, path, ": tensors '", by_offset[i - 1]->name, "' [", by_offset[i - 1]->begin, ", ",
           by_offset[i - 1]->end, ") and '", by_offset[i]->name, "' [", by_offset[i]->begin, ", ", by_offset[i]->end,
           ") overlap");
  }

  std::sort(f->entries_.begin(), f->entries_.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
  for (size_t i = 0; i < f->entries_.size(); ++i) f->index_[f->entries_[i].name] = i;

  const uint8_t* data = f->map_ + 8 + header_len;
  f->data_ = std::make_shared<Storage>(const_cast<uint8_t*>(data), (size_t)data_bytes, Device::CPU,
                                       [unmap_guard](void*) {});
  return f;
}

SafetensorsFile::~SafetensorsFile() = default;

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (!e) fail(ErrorKind::BadFile, path_, ": no tensor named '", name, "'");
  return *e;
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  if (!e.dtype_supported)
    fail(ErrorKind::Unsupported, path_, ": tensor '", name, "' has dtype ", e.dtype_name,
         ", which this engine does not load (supported: F32, F16, BF16, I32, I64, U8)");
  return Tensor(data_, (size_t)e.begin, e.dtype, e.shape);
}

Tensor SafetensorsFile::tensor_float(const std::string& name) const {
  Tensor t = tensor(name);
  if (!is_float(t.dtype()))
    fail(ErrorKind::InvalidArgument, path_, ": tensor '", name, "' is ", entry(name).dtype_name, ", not a float tensor");
  // Unaligned data is read through a byte copy (safetensors does not promise alignment).
  if ((reinterpret_cast<uintptr_t>(t.raw()) % dtype_size(t.dtype())) == 0) return t;
  Tensor aligned = Tensor::host_uninitialized(t.dtype(), t.shape());
  std::memcpy(aligned.raw(), t.raw(), t.nbytes());
  return aligned;
}

Tensor SafetensorsFile::tensor_f32(const std::string& name) const {
  Tensor t = tensor_float(name);
  return t.dtype() == DType::F32 ? t : to_f32_host(t);
}

void SafetensorsFile::release_pages(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  if (e.end == e.begin) return;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t base = reinterpret_cast<uintptr_t>(map_);
  const uintptr_t begin = base + 8 + header_bytes_ + e.begin, end = base + 8 + header_bytes_ + e.end;
  const uintptr_t b = begin / page * page, en = std::min<uintptr_t>((end + page - 1) / page * page, base + file_bytes_);
  if (en > b) madvise(reinterpret_cast<void*>(b), en - b, MADV_DONTNEED);  // advice only: failure changes nothing
}

}  // namespace indetail
