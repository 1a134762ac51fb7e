// What the Hopper attention kernel takes, its tensor maps, and the dispatch by head dim.
#include "attention_sm90.h"

#include <algorithm>

#include "../../../engine/core/error.h"
#include "tma_map.h"

namespace indetail {
namespace cuda {

namespace {

// (D, heads, rows, frames) of a [frames, rows, *] tensor whose head h starts at column h * D;
// boxes of 64 head-dim columns (one 128-byte swizzle row; zeros past D) by box_rows rows.
sm90::TmaSpec attn_map(const void* base, const AttnArgs& a, int64_t rows, int64_t frames, int64_t row_stride,
                       int64_t frame_stride, int box_rows) {
  sm90::TmaSpec s;
  s.base = base;
  s.rank = 4;
  const int64_t D = a.head_dim;
  s.dims[0] = (uint64_t)D;
  s.dims[1] = (uint64_t)a.heads;
  s.dims[2] = (uint64_t)std::max<int64_t>(rows, 1);
  s.dims[3] = (uint64_t)std::max<int64_t>(frames, 1);
  s.strides[0] = (uint64_t)D * 2;
  s.strides[1] = (uint64_t)row_stride * 2;
  // A single frame is never stepped over: any valid stride does.
  s.strides[2] = (uint64_t)(frames > 1 ? frame_stride : row_stride * std::max<int64_t>(rows, 1)) * 2;
  const uint32_t box[4] = {64, 1, (uint32_t)box_rows, 1};
  for (int d = 0; d < 4; ++d) s.box[d] = box[d];
  s.swizzle = 128;
  return s;
}

struct AttnMaps {
  sm90::TmaSpec q, k, v, kr, vr;
};

AttnMaps attn_maps(const AttnArgs& a) {
  AttnMaps m;
  const int bc = sm90_attention_keys_per_tile(a.head_dim);
  m.q = attn_map(a.q, a, a.q_len, a.frames, a.q_row, a.q_frame, 128);
  m.k = attn_map(a.k, a, a.k_len, a.frames, a.k_row, a.k_frame, bc);
  m.v = attn_map(a.v, a, a.k_len, a.frames, a.v_row, a.v_frame, bc);
  m.kr = m.k;
  m.vr = m.v;
  if (a.k_ref) {
    int frames = 1;  // the cache has at least the frames the policy names
    if (a.has_ref)
      for (int b = 0; b < a.frames; ++b) frames = std::max(frames, (int)a.ref[b] + 1);
    m.kr = attn_map(a.k_ref, a, a.ref_len, frames, a.kr_row, a.kr_frame, bc);
    m.vr = attn_map(a.v_ref, a, a.ref_len, frames, a.vr_row, a.vr_frame, bc);
  }
  return m;
}

}  // namespace

std::string sm90_attention_problem(const AttnArgs& a, DType dtype) {
  if (dtype != DType::F16) return "dtype (F16 only)";
  const int D = a.head_dim;
  if (D != 40 && D != 64 && D != 80 && D != 160) return "head dim " + std::to_string(D) + " (40, 64, 80, 160)";
  const AttnMaps m = attn_maps(a);
  const std::pair<const char*, const sm90::TmaSpec*> maps[] = {{"q", &m.q}, {"k", &m.k}, {"v", &m.v},
                                                               {"k_ref", &m.kr}, {"v_ref", &m.vr}};
  for (const auto& [name, spec] : maps) {
    const std::string why = sm90::tma_problem(*spec);
    if (!why.empty()) return std::string(name) + ": " + why;
  }
  return {};
}

void launch_attention_sm90(const AttnArgs& a, DType dtype, cudaStream_t stream) {
  const std::string why = sm90_attention_problem(a, dtype);
  if (!why.empty()) fail(ErrorKind::Internal, "sm_90 attention given a call it does not take: ", why);
  AttnSm90Params p;
  p.a = a;
  const AttnMaps m = attn_maps(a);
  sm90::encode_tma(&p.q, m.q);
  sm90::encode_tma(&p.k, m.k);
  sm90::encode_tma(&p.v, m.v);
  sm90::encode_tma(&p.kr, m.kr);
  sm90::encode_tma(&p.vr, m.vr);
  switch (a.head_dim) {
    case 40: return launch_attention_sm90_d<40>(p, stream);
    case 64: return launch_attention_sm90_d<64>(p, stream);
    case 80: return launch_attention_sm90_d<80>(p, stream);
    default: return launch_attention_sm90_d<160>(p, stream);
  }
}

}  // namespace cuda
}  // namespace indetail
