// DINO's position-embedding interpolation (facebookresearch/dino vision_transformer.py,
// VisionTransformer.interpolate_pos_encoding), on the host: the patch position embeddings of the
// config's g x g grid are resized to the input's gh x gw grid by torch's bicubic interpolation
// (A = -0.75, align_corners False, border indices clamped) with DINO's scale factors
// ((gh + 0.1) / g, (gw + 0.1) / g): the source coordinate of output index i is
// (i + 0.5) / scale - 0.5, in float as torch computes it. The class position is kept.
#pragma once
#include <cstdint>

#include "../core/tensor.h"

namespace indetail {

// Whether DINO interpolates for an input of height x width pixels: when its patch count differs
// from the config's or the input is not square.
bool dino_interpolates(int64_t height, int64_t width, int64_t patch, int64_t grid);

// grid: host F32 [g * g, C] (row-major patches) -> host F32 [gh * gw, C].
Tensor dino_interpolate_positions(const Tensor& grid, int64_t g, int64_t gh, int64_t gw);

}  // namespace indetail
