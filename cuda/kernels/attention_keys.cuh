// The key segments one (frame, head) of the attention kernels reads, from the policy in AttnArgs:
// segment 0 (the reference's keys, or the frame's own without a reference) then segment 1 (the
// frame's own keys after a reference: concat and stratified; len1 = 0: none). Shared by the
// flash and the simple kernel so that both read the policy the same way.
#pragma once
#include "attention.cuh"
#include "attention_mma.cuh"

namespace indetail {
namespace cuda {

// The policy part: which reference (frame of k/v, or of the cache), how many keys per segment,
// one softmax or two. Also read by the Hopper kernel, which addresses keys through tensor maps.
struct AttnSegments {
  int ref;     // reference frame (of k_ref/v_ref when cache), -1: none
  bool cache;  // segment 0 reads k_ref/v_ref
  int len0, len1;
  bool split;  // stratified: one softmax per segment
};

__host__ __device__ __forceinline__ AttnSegments attn_segments(const AttnArgs& a, int b) {
  AttnSegments s;
  s.ref = (a.has_ref && a.mode != kAttnNone) ? (int)a.ref[b] : -1;
  if (!a.k_ref && s.ref == b) s.ref = -1;  // its own frame as reference: every mode is plain attention
  s.cache = false;
  s.len0 = a.k_len;
  s.len1 = 0;
  s.split = false;
  if (s.ref >= 0) {
    if (a.k_ref) {
      s.cache = true;
      s.len0 = a.ref_len;
    }
    if (a.mode != kAttnReplace) s.len1 = a.k_len;  // concat / stratified: own keys follow
    s.split = a.mode == kAttnStratified;
  }
  return s;
}

template <typename T>
struct AttnKeys {
  int ref;                   // reference frame (a row of k_ref/v_ref with a cache), -1: none
  const T *own_k, *own_v;    // head h of frame b's own keys/values; segment 1 reads these
  const T *k0, *v0;          // segment 0
  int64_t k0row, v0row;      // row strides of segment 0
  int len0, len1;
  bool split;                // stratified: one softmax per segment
};

template <typename T>
__device__ __forceinline__ AttnKeys<T> attn_keys(const AttnArgs& a, int b, int h) {
  const int D = a.head_dim;
  const AttnSegments g = attn_segments(a, b);
  AttnKeys<T> s;
  s.ref = g.ref;
  s.own_k = static_cast<const T*>(a.k) + b * a.k_frame + (int64_t)h * D;
  s.own_v = static_cast<const T*>(a.v) + b * a.v_frame + (int64_t)h * D;
  s.k0 = s.own_k;
  s.v0 = s.own_v;
  s.k0row = a.k_row;
  s.v0row = a.v_row;
  s.len0 = g.len0;
  s.len1 = g.len1;
  s.split = g.split;
  const int r = g.ref;
  if (r >= 0) {
    if (g.cache) {
      s.k0 = static_cast<const T*>(a.k_ref) + r * a.kr_frame + (int64_t)h * D;
      s.v0 = static_cast<const T*>(a.v_ref) + r * a.vr_frame + (int64_t)h * D;
      s.k0row = a.kr_row;
      s.v0row = a.vr_row;
    } else {
      s.k0 = static_cast<const T*>(a.k) + r * a.k_frame + (int64_t)h * D;
      s.v0 = static_cast<const T*>(a.v) + r * a.v_frame + (int64_t)h * D;
    }
  }
  return s;
}

}  // namespace cuda
}  // namespace indetail
