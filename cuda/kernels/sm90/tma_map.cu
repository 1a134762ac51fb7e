// Tensor-map rules and encoding (tma_map.h). The driver entry point is looked up through the
// runtime (cudaGetDriverEntryPointByVersion), so the addon still links no libcuda.
#include "tma_map.h"

#include <cuda_runtime.h>

#include <mutex>

#include "../../../engine/core/error.h"

#ifdef INDETAIL_CUDA_EMULATION
#include "../../emulator/sm90_emu.h"
#endif

namespace indetail {
namespace cuda {
namespace sm90 {

std::string tma_problem(const TmaSpec& s) {
  if (s.rank < 1 || s.rank > 5) return "rank " + std::to_string(s.rank) + " is not in 1..5";
  if (s.esize != 1 && s.esize != 2 && s.esize != 4) return "element size " + std::to_string(s.esize);
  if (reinterpret_cast<uintptr_t>(s.base) % 16 != 0) return "the base address is not 16-byte aligned";
  if (s.swizzle != 0 && s.swizzle != 32 && s.swizzle != 64 && s.swizzle != 128)
    return "swizzle " + std::to_string(s.swizzle) + " is not 0, 32, 64 or 128";
  for (int d = 0; d < s.rank; ++d) {
    if (s.dims[d] == 0 || s.dims[d] > (1ULL << 32)) return "dimension " + std::to_string(d) + " has size " + std::to_string(s.dims[d]);
    if (s.box[d] == 0 || s.box[d] > 256) return "box dimension " + std::to_string(d) + " is " + std::to_string(s.box[d]);
    if (d > 0 && (s.strides[d - 1] % 16 != 0 || s.strides[d - 1] >= (1ULL << 40)))
      return "the stride of dimension " + std::to_string(d) + " (" + std::to_string(s.strides[d - 1]) +
             " bytes) is not a multiple of 16 below 2^40";
  }
  const uint64_t inner = (uint64_t)s.box[0] * s.esize;
  if (inner % 16 != 0) return "the inner box dimension is " + std::to_string(inner) + " bytes, not a multiple of 16";
  if (s.swizzle != 0 && inner > (uint64_t)s.swizzle)
    return "the inner box dimension (" + std::to_string(inner) + " bytes) exceeds the swizzle width";
  return {};
}

#ifdef INDETAIL_CUDA_EMULATION
void encode_tma(CUtensorMap* out, const TmaSpec& s) {
  const std::string why = tma_problem(s);
  if (!why.empty()) fail(ErrorKind::Device, "TMA tensor map refused: ", why);
  ::emu::encode_tensor_map(out, s.base, s.rank, s.esize, s.dims, s.strides, s.box, s.swizzle);
}
#else
namespace {
using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                 const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                 CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
EncodeTiled encode_entry() {
  static std::once_flag once;
  static EncodeTiled fn = nullptr;
  std::call_once(once, [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q) == cudaSuccess &&
        q == cudaDriverEntryPointSuccess)
      fn = reinterpret_cast<EncodeTiled>(p);
    cudaGetLastError();
  });
  return fn;
}
}  // namespace

void encode_tma(CUtensorMap* out, const TmaSpec& s) {
  const std::string why = tma_problem(s);
  if (!why.empty()) fail(ErrorKind::Device, "TMA tensor map refused: ", why);
  EncodeTiled fn = encode_entry();
  if (!fn) fail(ErrorKind::Device, "the driver has no cuTensorMapEncodeTiled");
  const CUtensorMapDataType type = s.esize == 1   ? CU_TENSOR_MAP_DATA_TYPE_UINT8
                                   : s.esize == 2 ? CU_TENSOR_MAP_DATA_TYPE_UINT16
                                                  : CU_TENSOR_MAP_DATA_TYPE_UINT32;
  const CUtensorMapSwizzle sw = s.swizzle == 128  ? CU_TENSOR_MAP_SWIZZLE_128B
                                : s.swizzle == 64 ? CU_TENSOR_MAP_SWIZZLE_64B
                                : s.swizzle == 32 ? CU_TENSOR_MAP_SWIZZLE_32B
                                                  : CU_TENSOR_MAP_SWIZZLE_NONE;
  cuuint64_t dims[5], strides[4];
  cuuint32_t box[5], estride[5];
  for (int d = 0; d < s.rank; ++d) {
    dims[d] = s.dims[d];
    box[d] = s.box[d];
    estride[d] = 1;
    if (d > 0) strides[d - 1] = s.strides[d - 1];
  }
  const CUresult r = fn(out, type, (cuuint32_t)s.rank, const_cast<void*>(s.base), dims, strides, box, estride,
                        CU_TENSOR_MAP_INTERLEAVE_NONE, sw, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) fail(ErrorKind::Device, "cuTensorMapEncodeTiled failed (CUresult ", (int)r, ")");
}
#endif

}  // namespace sm90
}  // namespace cuda
}  // namespace indetail
