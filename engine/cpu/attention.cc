// attention with the image-prompt policy (backend.h AttentionParams, DESIGN.md §1). For query
// frame b with r = ref[b]:
//   mode None, or r < 0:  softmax(Q K_bᵀ · scale) V_b
//   Concat:               one softmax over [K_r ; K_b]
//   Stratified:           (λ_ref · Attn(Q, K_r, V_r) + λ_self · Attn(Q, K_b, V_b)) / (λ_ref + λ_self)
//   Replace:              Attn(Q, K_r, V_r)
// K_r / V_r are frame r of k / v, or of k_ref / v_ref when given (a cache of Lr keys). When the
// reference is the frame itself every mode reduces to plain attention, which is what is computed.
// The work is split into tasks of (frame, head, block of queries), each run by the flash kernel
// of attention_kernels.inc with per-worker scratch. In the bf16 precision Q, K, V and the softmax
// probabilities are rounded to bf16 and multiplied with fp32 accumulation (softmax statistics
// and the output stay fp32).
#include <algorithm>
#include <cmath>

#include "../core/threadpool.h"
#include "attention_kernels.h"
#include "cpu_backend.h"
#include "cpu_features.h"
#include "op_util.h"
#include "parallel.h"

namespace indetail {

namespace cpu {
const AttentionKernels& attention_kernels() {
  static const AttentionKernels& k = kernels_for_level(isa_avx512::attention_kernel_table(), isa_avx2::attention_kernel_table(),
                                      isa_generic::attention_kernel_table());
  return k;
}

const AttentionKernels& attention_bf16_kernels() {
  static const AttentionKernels& k = cpu_has_bf16_dot() ? isa_avx512bf16::attention_kernel_table() : attention_kernels();
  return k;
}
}  // namespace cpu

namespace {

const char* mode_name(RefMode m) {
  switch (m) {
    case RefMode::Concat: return "concat";
    case RefMode::Stratified: return "stratified";
    case RefMode::Replace: return "replace";
    default: return "none";
  }
}

// Column window [col, col + width) of rows of t: [frames, len, row].
void check_window(const char* arg, const Tensor& t, int64_t col, int64_t width) {
  check_arg(col >= 0 && col + width <= t.size(2), "attention: ", arg, " ", t.describe(), " has no columns [", col, ", ",
            col + width, ")");
}

// Keys and values of every frame: frame f, head h at k + f·len·k_ld + h·d (and likewise v).
struct KvFrames {
  const float* k;
  const float* v;
  int64_t k_ld, v_ld, len;
};

// The keys and values of KvFrames in the bf16 tiles of the kernel's run_bf16, per frame and head
// (empty = not packed: the tasks pack their tiles themselves).
struct PackedKv {
  Tensor storage;
  int64_t per_head = 0;  // bytes
  const void* at(int64_t frame, int64_t head, int64_t heads) const {
    return per_head ? static_cast<const char*>(storage.raw()) + (frame * heads + head) * per_head : nullptr;
  }
};

PackedKv pack_kv16(Backend& be, const cpu::AttentionKernels& kern, const KvFrames& src, int64_t frames, int64_t heads,
                   int64_t d) {
  PackedKv r;
  r.per_head = kern.kv16_bytes(src.len, d);
  r.storage = be.empty(DType::U8, {std::max<int64_t>(1, frames * heads * r.per_head)});
  char* out = static_cast<char*>(r.storage.raw());
  parallel_for(frames * heads, 1, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t f = u / heads, h = u % heads;
      kern.pack_bf16(src.k + f * src.len * src.k_ld + h * d, src.k_ld, src.v + f * src.len * src.v_ld + h * d, src.v_ld,
                     src.len, d, out + u * r.per_head);
    }
  });
  return r;
}

}  // namespace

void CpuBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref, const Tensor* v_ref,
                           Tensor& out, const AttentionParams& p) {
  using namespace cpu;
  const char* op = "attention";
  check_f32(op, "q", q);
  check_f32(op, "k", k);
  check_f32(op, "v", v);
  check_f32(op, "out", out);
  check_rank(op, "q", q, 3);
  check_rank(op, "k", k, 3);
  check_rank(op, "v", v, 3);
  check_rank(op, "out", out, 3);
  check_arg(p.heads >= 1 && out.size(2) % p.heads == 0, "attention: heads ", p.heads, " must divide the width of out ",
            out.describe());
  const int64_t frames = q.size(0), lq = q.size(1), lk = k.size(1), heads = p.heads, d = out.size(2) / heads;
  const int64_t width = heads * d;
  check_shape(op, "out", out, {frames, lq, width});
  check_arg(k.size(0) == frames && v.size(0) == frames, "attention: q ", q.describe(), ", k ", k.describe(), " and v ",
            v.describe(), " must have the same number of frames");
  check_arg(v.size(1) == lk, "attention: k ", k.describe(), " and v ", v.describe(), " must have the same length");
  check_window("q", q, p.q_col, width);
  check_window("k", k, p.k_col, width);
  check_window("v", v, p.v_col, width);
  check_arg(std::isfinite(p.scale), "attention: scale must be finite, got ", p.scale);
  check_arg(p.ref.empty() || (int64_t)p.ref.size() == frames, "attention: ref has ", p.ref.size(),
            " entries but q has ", frames, " frames");
  check_arg(!(k_ref || v_ref) || (k_ref && v_ref), "attention: k_ref and v_ref must be given together");
  check_arg(!overlaps(out, q) && !overlaps(out, k) && !overlaps(out, v), "attention: out must not alias q, k or v");

  // The reference keys: frames of k_ref / v_ref (own column window when as wide as k / v,
  // else columns [0, width)) or of k / v.
  int64_t lr = lk, ref_frames = frames, kr_col = p.k_col, vr_col = p.v_col;
  const Tensor& kr = k_ref ? *k_ref : k;
  const Tensor& vr = v_ref ? *v_ref : v;
  if (k_ref) {
    check_f32(op, "k_ref", *k_ref);
    check_f32(op, "v_ref", *v_ref);
    check_rank(op, "k_ref", *k_ref, 3);
    check_rank(op, "v_ref", *v_ref, 3);
    check_arg(k_ref->size(0) == v_ref->size(0) && k_ref->size(1) == v_ref->size(1), "attention: k_ref ",
              k_ref->describe(), " and v_ref ", v_ref->describe(), " must have the same frames and length");
    ref_frames = k_ref->size(0);
    lr = k_ref->size(1);
    kr_col = k_ref->size(2) == k.size(2) ? p.k_col : 0;
    vr_col = v_ref->size(2) == v.size(2) ? p.v_col : 0;
    check_window("k_ref", *k_ref, kr_col, width);
    check_window("v_ref", *v_ref, vr_col, width);
    check_arg(!overlaps(out, *k_ref) && !overlaps(out, *v_ref), "attention: out must not alias k_ref or v_ref");
  }
  const bool use_ref = p.mode != RefMode::None && !p.ref.empty();
  if (use_ref) {
    for (int64_t b = 0; b < frames; ++b)
      check_arg(p.ref[b] >= -1 && p.ref[b] < ref_frames, "attention: ref[", b, "] = ", p.ref[b], " is not a frame of ",
                (k_ref ? "k_ref " : "k "), kr.describe(), " (or -1) in mode ", mode_name(p.mode));
    if (p.mode == RefMode::Stratified)
      check_arg(std::isfinite(p.lambda_ref) && std::isfinite(p.lambda_self) && p.lambda_ref + p.lambda_self != 0.0f,
                "attention: stratified mode needs finite lambda_ref + lambda_self != 0, got ", p.lambda_ref, " + ",
                p.lambda_self);
  }
  if (out.numel() == 0) return;
  check_arg(lk > 0, "attention: k ", k.describe(), " has no keys");
  check_arg(!use_ref || lr > 0 || std::all_of(p.ref.begin(), p.ref.end(), [](int32_t r) { return r < 0; }),
            "attention: k_ref ", kr.describe(), " has no keys");

  // The bf16 precision multiplies bf16 pairs along the head dimension: even head dims only.
  const bool bf16 = precision_ == GemmPrecision::BF16 && d % 2 == 0;
  const AttentionKernels& kern = bf16 ? attention_bf16_kernels() : attention_kernels();
  void (*run)(const AttnTask&) = bf16 ? kern.run_bf16 : kern.run;
  const int64_t qb = kern.max_queries(d);
  const int64_t q_blocks = ceil_div(lq, qb);
  const int64_t tasks = frames * heads * q_blocks;
  const int workers = task_workers(tasks);
  const int64_t per_worker = kern.scratch_floats(d);
  Tensor scratch = empty({(int64_t)workers * per_worker});

  const int64_t q_ld = q.size(2), k_ld = k.size(2), v_ld = v.size(2), kr_ld = kr.size(2), vr_ld = vr.size(2);
  const float* qd = q.data<float>();
  const float* kd = k.data<float>();
  const float* vd = v.data<float>();
  const float* krd = kr.data<float>();
  const float* vrd = vr.data<float>();
  float* od = out.data<float>();

  // bf16 dot products: every frame's keys and values (and the cache's) packed to bf16 tiles once,
  // not once per query block.
  PackedKv own16, ref16;
  if (bf16 && kern.pack_bf16) {
    own16 = pack_kv16(*this, kern, {kd + p.k_col, vd + p.v_col, k_ld, v_ld, lk}, frames, heads, d);
    ref16 = k_ref ? pack_kv16(*this, kern, {krd + kr_col, vrd + vr_col, kr_ld, vr_ld, lr}, ref_frames, heads, d) : own16;
  }

  parallel_tasks(tasks, [&](int64_t task, int worker) {
    const int64_t blk = task % q_blocks, h = (task / q_blocks) % heads, b = task / (q_blocks * heads);
    const int64_t i0 = blk * qb;
    AttnTask t;
    t.q = qd + (b * lq + i0) * q_ld + p.q_col + h * d;
    t.q_ld = q_ld;
    t.nq = std::min(qb, lq - i0);
    t.q_pos = i0;
    t.out = od + (b * lq + i0) * width + h * d;
    t.out_ld = width;
    t.d = d;
    t.scale = p.scale;
    t.scratch = scratch.data<float>() + worker * per_worker;

    AttnSource own;
    own.k = kd + b * lk * k_ld + p.k_col + h * d;
    own.k_ld = k_ld;
    own.v = vd + b * lk * v_ld + p.v_col + h * d;
    own.v_ld = v_ld;
    own.len = lk;
    own.causal = p.causal;
    own.kv16 = own16.at(b, h, heads);

    int32_t r = use_ref ? p.ref[b] : -1;
    if (!k_ref && r == b) r = -1;  // attending to itself: every mode is plain attention
    if (r < 0) {
      t.src[0] = own;
      t.nsrc = 1;
    } else {
      AttnSource ref;
      ref.k = krd + r * lr * kr_ld + kr_col + h * d;
      ref.k_ld = kr_ld;
      ref.v = vrd + r * lr * vr_ld + vr_col + h * d;
      ref.v_ld = vr_ld;
      ref.len = lr;
      ref.kv16 = ref16.at(r, h, heads);
      t.src[0] = ref;
      switch (p.mode) {
        case RefMode::Concat:
          t.src[1] = own;
          t.nsrc = 2;
          break;
        case RefMode::Stratified:
          own.acc = 1;
          t.src[1] = own;
          t.nsrc = 2;
          t.nacc = 2;
          t.w[0] = p.lambda_ref;
          t.w[1] = p.lambda_self;
          break;
        default:  // Replace
          t.nsrc = 1;
          break;
      }
    }
    run(t);
  });
}

}  // namespace indetail
