// The naive attention of the benchmark (what the reference implementation does, in the storage
// dtype): gather / concatenate the keys and values of every frame into new tensors, then
//   scores  S[b, h] = scale * Q K^T      (tensor-core GEMM, [frames, heads, Lq, keys] materialised)
//   softmax P = softmax(S) in place      (one warp per row, F32 math)
//   output  O = P V                      (tensor-core GEMM)
// and for stratified attention a second attention over the own keys plus a combine pass.
// Not part of the op interface: binding/attention_bench.cc times it against the fused op.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <vector>

#include "../cuda_backend.h"
#include "../cuda_check.h"
#include "attention_bench.h"
#include "attention_naive_kernels.cuh"

namespace indetail {
namespace cuda {

namespace {

template <typename T>
DType dtype_of();
template <>
DType dtype_of<__half>() { return DType::F16; }
template <>
DType dtype_of<__nv_bfloat16>() { return DType::BF16; }

unsigned blocks_for(int64_t n) { return (unsigned)std::min<int64_t>((n + 255) / 256, 65535 * 8); }

// One attention over a key list in the layout of `kv` (frames of rows, C columns after the window).
// Returns the bytes of its score matrix.
template <typename T>
uint64_t attend(CudaBackend& be, const AttnArgs& a, Operand kop, Operand vop, int keys, const Tensor& len_dev,
                void* out) {
  const int B = a.frames, H = a.heads, D = a.head_dim, Lq = a.q_len;
  const int pitch = (keys + 7) / 8 * 8;
  Tensor s = be.empty(dtype_of<T>(), {(int64_t)B * H * Lq * pitch});
  const int64_t C = (int64_t)H * D;
  Operand qop{a.q, a.q_frame, D, a.q_row};
  OutOperand sop{s.raw(), (int64_t)H * Lq * pitch, (int64_t)Lq * pitch, pitch};
  const float scale = a.scale_log2 / 1.4426950408889634f;
  dim3 g1((keys + 63) / 64, (Lq + 63) / 64, B * H);
  naive_gemm_kernel<T, false><<<g1, 128, 0, be.stream()>>>(qop, kop, sop, Lq, keys, D, keys, H, scale);
  be.check_launch("naive attention scores");
  const int64_t rows = (int64_t)B * H * Lq;
  naive_softmax_kernel<T><<<(unsigned)((rows + 3) / 4), 128, 0, be.stream()>>>(s.data<T>(), rows, H * Lq, pitch,
                                                                                len_dev.data<int32_t>());
  be.check_launch("naive attention softmax");
  Operand pop{s.raw(), (int64_t)H * Lq * pitch, (int64_t)Lq * pitch, pitch};
  OutOperand oop{out, (int64_t)Lq * C, D, C};
  dim3 g2((D + 63) / 64, (Lq + 63) / 64, B * H);
  naive_gemm_kernel<T, true><<<g2, 128, 0, be.stream()>>>(pop, vop, oop, Lq, D, pitch, keys, H, 1.f);
  be.check_launch("naive attention P V");
  return s.nbytes();
}

template <typename T>
uint64_t naive(CudaBackend& be, const AttnPrepared& pr, const AttentionParams& p) {
  const AttnArgs& a = pr.args;
  const int B = a.frames, H = a.heads, D = a.head_dim;
  const int64_t C = (int64_t)H * D;
  uint64_t extra = 0;
  auto upload_i32 = [&](const std::vector<int32_t>& v) {
    Tensor host = Tensor::host(DType::I32, {(int64_t)v.size()});
    std::copy(v.begin(), v.end(), host.data<int32_t>());
    Tensor d = be.upload(host, DType::I32);
    extra += d.nbytes();
    return d;
  };
  // per frame: the source of the "reference" part (own frame when there is no reference)
  const NaiveKeyPlan kp = naive_key_plan(a);
  Operand kown{a.k, a.k_frame, D, a.k_row}, vown{a.v, a.v_frame, D, a.v_row};
  if (a.mode == kAttnNone) {
    return extra + attend<T>(be, a, kown, vown, a.k_len, upload_i32(kp.own_len), a.out);
  }
  const bool concat = a.mode == kAttnConcat;
  const int keys = kp.keys;
  Tensor kk = be.empty(dtype_of<T>(), {(int64_t)B * keys * C}), vv = be.empty(dtype_of<T>(), {(int64_t)B * keys * C});
  extra += kk.nbytes() + vv.nbytes();
  Tensor d_frame = upload_i32(kp.frame), d_cached = upload_i32(kp.cached), d_slen = upload_i32(kp.len);
  const int64_t n = (int64_t)B * keys * C;
  naive_gather_kernel<T><<<blocks_for(n), 256, 0, be.stream()>>>(
      kk.data<T>(), B, keys, (int)C, static_cast<const T*>(a.k), a.k_frame, a.k_row, static_cast<const T*>(a.k_ref),
      a.kr_frame, a.kr_row, d_frame.data<int32_t>(), d_cached.data<int32_t>(), d_slen.data<int32_t>(),
      static_cast<const T*>(a.k), a.k_frame, a.k_row, concat ? a.k_len : 0);
  naive_gather_kernel<T><<<blocks_for(n), 256, 0, be.stream()>>>(
      vv.data<T>(), B, keys, (int)C, static_cast<const T*>(a.v), a.v_frame, a.v_row, static_cast<const T*>(a.v_ref),
      a.vr_frame, a.vr_row, d_frame.data<int32_t>(), d_cached.data<int32_t>(), d_slen.data<int32_t>(),
      static_cast<const T*>(a.v), a.v_frame, a.v_row, concat ? a.k_len : 0);
  be.check_launch("naive attention gather");
  Operand kop{kk.raw(), (int64_t)keys * C, D, C}, vop{vv.raw(), (int64_t)keys * C, D, C};
  if (a.mode != kAttnStratified) {
    return extra + attend<T>(be, a, kop, vop, keys, upload_i32(concat ? kp.cat_len : kp.len), a.out);
  }
  Tensor tmp = be.empty(dtype_of<T>(), {(int64_t)B * a.q_len * C});
  extra += tmp.nbytes();
  const uint64_t s1 = attend<T>(be, a, kop, vop, keys, d_slen, tmp.raw());
  const uint64_t s2 = attend<T>(be, a, kown, vown, a.k_len, upload_i32(kp.own_len), a.out);
  extra += std::max(s1, s2);  // the first score matrix is back in the cache when the second is made
  const int64_t on = (int64_t)B * a.q_len * C;
  naive_combine_kernel<T><<<blocks_for(on), 256, 0, be.stream()>>>(tmp.data<T>(), static_cast<T*>(a.out), on,
                                                                  a.w_ref, a.w_self);
  be.check_launch("naive attention combine");
  return extra;
}

}  // namespace

uint64_t naive_attention(Backend& backend, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref,
                         const Tensor* v_ref, Tensor& out, const AttentionParams& p) {
  auto* be = dynamic_cast<CudaBackend*>(&backend);
  check_arg(be != nullptr, "naive attention (CUDA): needs a CUDA engine, got ", backend.name());
  be->ensure_usable();
  AttnPrepared pr = prepare_attention(q, k, v, k_ref, v_ref, out, p);
  if (pr.empty) return 0;
  check_arg(pr.flash_ok, "naive attention (CUDA): needs head dim % 8 == 0 and 16-byte aligned rows (as the flash kernel)");
  check_arg(!p.causal, "naive attention (CUDA): causal masking is not implemented in the naive path");
  if (pr.dtype == DType::F16) return naive<__half>(*be, pr, p);
  return naive<__nv_bfloat16>(*be, pr, p);
}

}  // namespace cuda
}  // namespace indetail
