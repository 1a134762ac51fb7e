// Tiled VAE passes: the input is cut into overlapping tiles that run through the model one at a
// time, so peak memory is that of one tile whatever the image size; the tile outputs are blended
// linearly across the overlaps into the full result.
//
// Tiles are planned on the latent grid. Along an axis of length L with tile T and overlap O
// (latent pixels): one tile when L <= T, else n = ceil((L - O) / (T - O)) tiles of the smallest
// size S <= T with n·S - (n - 1)·O >= L, spread evenly from 0 to L - S (every overlap is then at
// least O, up to rounding; e.g. L 128, T 64, O 16 -> 3 tiles of 54 at 0, 37, 74). Each tile's output
// is weighted by a ramp that rises linearly across its overlap with the previous tile and falls
// across its overlap with the next one (1 elsewhere, no ramp at the image border); the 2-D
// weight is the product of the two axes' ramps and the sum is normalised by the total weight,
// so overlapping ramps add up to 1 and the interior of a tile is taken as is.
//
// This is an approximation: convolutions near a tile edge see zero padding instead of the
// neighbouring pixels (hidden by the blend), and the VAE mid-block attention and GroupNorm
// statistics are computed per tile instead of over the whole image.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "../backend.h"
#include "../core/cancel.h"

namespace indetail {

struct TileSpan {
  int64_t start = 0, size = 0;
};

// Tiles covering [0, length) (all units latent pixels). tile > overlap >= 0.
std::vector<TileSpan> plan_tiles(int64_t length, int64_t tile, int64_t overlap);

// Blend weight of each position of span k of `spans` (all scaled by `scale`: latent -> output pixels).
std::vector<float> blend_ramp(const std::vector<TileSpan>& spans, size_t k, int64_t scale);

struct TiledPass {
  int64_t in_scale = 1;   // input pixels per latent pixel (the encoder: the downsampling factor)
  int64_t out_scale = 1;  // output pixels per latent pixel (the decoder: the upsampling factor)
  int64_t out_channels = 0;
  int64_t tile = 0;     // latent pixels
  int64_t overlap = 0;  // latent pixels
  const CancelToken* cancel = nullptr;  // polled before every tile
};

// Runs `fn` (one model pass: device tensor in, device tensor out) on the tiles of x
// ([N, H, W, C] on `b`, H and W multiples of in_scale) and returns the blended result as a host
// F32 tensor [N, H / in_scale * out_scale, W / in_scale * out_scale, out_channels].
Tensor run_tiled(Backend& b, const Tensor& x, const TiledPass& pass, const std::function<Tensor(const Tensor&)>& fn);

}  // namespace indetail
