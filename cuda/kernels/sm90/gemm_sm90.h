// The Hopper (sm_90a) kernel behind linear, linear_geglu and stride-1 conv2d: the GemmArgs contract
// of implicit_gemm.h (same epilogues, same split-K workspace and reduction), on wgmma with TMA
// loads, a producer warpgroup and two consumer warpgroups, persistent over the device's SMs.
// Only built when the CUDA architectures include sm_90 (INDETAIL_WITH_SM90A) and only selected on
// devices of compute capability 9.0; everything else runs the mma.sync kernel.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "../../../engine/core/dtype.h"
#include "../implicit_gemm.h"

namespace indetail {
namespace cuda {

// 128 rows (two consumer warpgroups of 64) x 160 virtual columns (divides every SD channel count:
// 320, 640, 960, 1280, 2560, 5120) x 64 channels (one 128-byte swizzle row) per k-tile.
constexpr GemmTile kSm90Tile{128, 160, 64};

// Empty when the sm_90a kernel takes the problem, else why not. Decided by the layer's geometry
// and the operands' alignment, never by the batch size, so a frame takes the same kernel (and
// keeps its bits) whatever the batch.
std::string sm90_gemm_problem(const GemmArgs& a);

// Steps of the kernel's K loop: kernel taps x 64-channel blocks (the k_tiles of its split plan).
int sm90_k_tiles(const GemmArgs& a);

// Runs the GEMM with a.splits / a.k_tiles_per_split / a.workspace planned for kSm90Tile and
// sm90_k_tiles (and the split-K reduction when a.splits > 1) on min(work units, num_sms) CTAs.
void launch_gemm_sm90(DType dtype, const GemmArgs& a, int num_sms, cudaStream_t stream);

}  // namespace cuda
}  // namespace indetail
