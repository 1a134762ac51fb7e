// Flash attention, head dims up to 160 (see attention_flash_kernel.cuh); F16 and BF16.
#include "attention_flash_kernel.cuh"

namespace indetail {
namespace cuda {
INDETAIL_FLASH_ATTENTION_GROUP(160)
}  // namespace cuda
}  // namespace indetail
