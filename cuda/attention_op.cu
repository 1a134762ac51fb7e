// CudaBackend::attention: argument checks, then one launch of the Hopper kernel (compute
// capability 9.0, F16, head dims 40/64/80/160: kernels/sm90/attention_sm90.h), of the flash kernel
// (tensor cores, head dims that are multiples of 8 up to 256 with 16-byte aligned rows) or of the
// general kernel (anything else up to head dim 512). See cuda/kernels/attention.cuh for the contract.
//
// Semantics shared with the CPU op (engine/cpu/attention.cc): k_ref / v_ref (a stored K/V cache)
// use the column window of k / v when their rows are as wide as k's / v's, else columns
// [0, heads * head_dim); the causal mask applies to the own keys only; a frame whose reference is
// itself gets plain attention. Unlike the CPU op the scale must be positive.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../engine/op_checks.h"
#include "cuda_backend.h"
#include "cuda_check.h"
#include "kernels/attention.cuh"
#include "kernels/attention_bench.h"
#include "kernels/sm90/attention_sm90.h"

namespace indetail {

namespace cuda {

FlashConfig flash_config(int head_dim, int variant) {
  switch (flash_group(head_dim)) {
    case 64: return flash_group_config<64>(variant);
    case 96: return flash_group_config<96>(variant);
    case 160: return flash_group_config<160>(variant);
    case 256: return flash_group_config<256>(variant);
  }
  fail(ErrorKind::Internal, "attention: no flash kernel group for head dim ", head_dim);
}

void launch_flash_attention(const AttnArgs& a, DType dtype, bool stash_in_smem, int variant, cudaStream_t stream) {
  switch (flash_group(a.head_dim)) {
    case 64: return launch_flash_group<64>(a, dtype, stash_in_smem, variant, stream);
    case 96: return launch_flash_group<96>(a, dtype, stash_in_smem, variant, stream);
    case 160: return launch_flash_group<160>(a, dtype, stash_in_smem, variant, stream);
    case 256: return launch_flash_group<256>(a, dtype, stash_in_smem, variant, stream);
  }
  fail(ErrorKind::Internal, "attention: no flash kernel group for head dim ", a.head_dim);
}

namespace {

constexpr const char* kOp = "attention";

const char* mode_name(RefMode m) {
  switch (m) {
    case RefMode::None: return "none";
    case RefMode::Concat: return "concat";
    case RefMode::Stratified: return "stratified";
    case RefMode::Replace: return "replace";
  }
  return "?";
}

void check_input(const char* name, const Tensor& t, DType dt) {
  check_device(kOp, name, t, Device::CUDA);
  check_rank(kOp, name, t, 3);
  check_arg(t.dtype() == dt, kOp, ": ", name, " ", t.describe(), " must have the dtype of out (", dtype_name(dt), ")");
}

void check_window(const char* name, const Tensor& t, int64_t col, int64_t width, const char* col_name) {
  check_arg(col >= 0 && col + width <= t.size(2), kOp, ": columns [", col, ", ", col + width, ") of ", name, " (",
            col_name, " ", col, ", heads * head_dim ", width, ") do not fit its rows of ", t.size(2), ": ",
            t.describe());
}

bool overlaps(const Tensor& a, const Tensor& b) {
  const char* a0 = static_cast<const char*>(a.raw());
  const char* b0 = static_cast<const char*>(b.raw());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace

AttnPrepared prepare_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref, const Tensor* v_ref,
                 const Tensor& out, const AttentionParams& p) {
  AttnPrepared r;
  check_device(kOp, "out", out, Device::CUDA);
  check_rank(kOp, "out", out, 3);
  const DType dt = out.dtype();
  check_arg(dt == DType::F16 || dt == DType::BF16, kOp, ": the CUDA backend computes attention on F16 or BF16 tensors, got out ",
            out.describe());
  check_input("q", q, dt);
  check_input("k", k, dt);
  check_input("v", v, dt);
  check_arg(p.heads >= 1 && p.heads <= 65535, kOp, ": heads must be in [1, 65535], got ", p.heads);
  const int64_t B = q.size(0), Lq = q.size(1), C = out.size(2);
  check_arg(C % p.heads == 0 && C > 0, kOp, ": out width ", C, " (", out.describe(), ") is not a positive multiple of heads ",
            p.heads);
  const int64_t D = C / p.heads;
  check_shape(kOp, "out", out, {B, Lq, C});
  check_arg(k.size(0) == B && v.size(0) == B, kOp, ": k ", k.describe(), " and v ", v.describe(), " must have the ", B,
            " frames of q ", q.describe());
  check_arg(k.size(1) == v.size(1), kOp, ": k ", k.describe(), " and v ", v.describe(), " must have the same length");
  const int64_t Lk = k.size(1);
  check_window("q", q, p.q_col, C, "q_col");
  check_window("k", k, p.k_col, C, "k_col");
  check_window("v", v, p.v_col, C, "v_col");
  check_arg(std::isfinite(p.scale) && p.scale > 0.f, kOp, ": scale must be positive and finite, got ", p.scale);
  check_arg(p.ref.empty() || (int64_t)p.ref.size() == B, kOp, ": ref has ", p.ref.size(), " entries for ", B,
            " frames of q");
  check_arg((k_ref == nullptr) == (v_ref == nullptr), kOp, ": k_ref and v_ref must be given together");
  int64_t R = 0, Lr = 0, kr_col = 0, vr_col = 0;
  if (k_ref) {
    check_input("k_ref", *k_ref, dt);
    check_input("v_ref", *v_ref, dt);
    R = k_ref->size(0);
    Lr = k_ref->size(1);
    check_arg(v_ref->size(0) == R && v_ref->size(1) == Lr, kOp, ": k_ref ", k_ref->describe(), " and v_ref ",
              v_ref->describe(), " must have the same frames and length");
    kr_col = k_ref->size(2) == k.size(2) ? p.k_col : 0;
    vr_col = v_ref->size(2) == v.size(2) ? p.v_col : 0;
    check_window("k_ref", *k_ref, kr_col, C, kr_col ? "k_col" : "column");
    check_window("v_ref", *v_ref, vr_col, C, vr_col ? "v_col" : "column");
  }
  const int64_t limit = k_ref ? R : B;
  if (p.mode != RefMode::None)
    for (size_t b = 0; b < p.ref.size(); ++b)
      check_arg(p.ref[b] >= -1 && p.ref[b] < limit, kOp, ": ref[", b, "] = ", p.ref[b], " is outside [-1, ", limit,
                ") (", k_ref ? "frames of k_ref" : "frames of k/v", ") in mode ", mode_name(p.mode));
  r.any_ref = p.mode != RefMode::None && std::any_of(p.ref.begin(), p.ref.end(), [](int32_t x) { return x >= 0; });
  if (p.mode == RefMode::Stratified)
    check_arg(std::isfinite(p.lambda_ref) && std::isfinite(p.lambda_self) && p.lambda_ref + p.lambda_self != 0.f, kOp,
              ": stratified attention needs finite lambda_ref and lambda_self with a non-zero sum, got ", p.lambda_ref,
              " and ", p.lambda_self);
  check_arg(B <= 65535, kOp, ": at most 65535 frames per launch, got ", B);
  check_arg(!r.any_ref || B <= kAttnMaxRefFrames, kOp, ": at most ", kAttnMaxRefFrames,
            " frames per launch with reference frames, got ", B);
  check_arg(Lq < INT32_MAX && Lk < INT32_MAX && Lr < INT32_MAX && D <= INT32_MAX, kOp, ": sequence too long");
  for (const Tensor* t : {&q, &k, &v, k_ref, v_ref})
    if (t) check_arg(!overlaps(out, *t), kOp, ": out ", out.describe(), " overlaps an input (", t->describe(), ")");
  r.dtype = dt;
  if (B == 0 || Lq == 0) {
    r.empty = true;
    return r;
  }
  check_arg(Lk >= 1, kOp, ": k ", k.describe(), " has no keys");
  check_arg(!k_ref || !r.any_ref || Lr >= 1, kOp, ": k_ref ", k_ref ? k_ref->describe() : "", " has no keys");

  const size_t es = dtype_size(dt);
  AttnArgs& a = r.args;
  a.q = static_cast<const char*>(q.raw()) + p.q_col * es;
  a.k = static_cast<const char*>(k.raw()) + p.k_col * es;
  a.v = static_cast<const char*>(v.raw()) + p.v_col * es;
  a.out = out.raw();
  a.q_row = q.size(2), a.q_frame = Lq * q.size(2);
  a.k_row = k.size(2), a.k_frame = Lk * k.size(2);
  a.v_row = v.size(2), a.v_frame = Lk * v.size(2);
  if (k_ref) {
    a.k_ref = static_cast<const char*>(k_ref->raw()) + kr_col * es;
    a.v_ref = static_cast<const char*>(v_ref->raw()) + vr_col * es;
    a.kr_row = k_ref->size(2), a.kr_frame = Lr * k_ref->size(2);
    a.vr_row = v_ref->size(2), a.vr_frame = Lr * v_ref->size(2);
  }
  a.frames = (int)B, a.heads = p.heads, a.head_dim = (int)D;
  a.q_len = (int)Lq, a.k_len = (int)Lk, a.ref_len = k_ref ? (int)Lr : (int)Lk;
  a.mode = r.any_ref ? (p.mode == RefMode::Concat       ? kAttnConcat
                        : p.mode == RefMode::Stratified ? kAttnStratified
                                                        : kAttnReplace)
                     : kAttnNone;
  a.causal = p.causal ? 1 : 0;
  a.scale_log2 = p.scale * 1.4426950408889634f;
  const float lsum = p.lambda_ref + p.lambda_self;
  a.w_ref = p.lambda_ref / lsum, a.w_self = p.lambda_self / lsum;
  a.has_ref = r.any_ref ? 1 : 0;
  if (r.any_ref)
    for (size_t b = 0; b < p.ref.size(); ++b) a.ref[b] = (int16_t)p.ref[b];

  bool ok = flash_group((int)D) != 0;
  for (int64_t stride : {a.q_row, a.k_row, a.v_row, a.kr_row, a.vr_row}) ok = ok && stride % 8 == 0;
  for (const void* ptr : {a.q, a.k, a.v, (const void*)a.out}) ok = ok && aligned16(ptr);
  if (k_ref) ok = ok && aligned16(a.k_ref) && aligned16(a.v_ref);
  r.flash_ok = ok;
  return r;
}

namespace {

// choice: -1 auto (the Hopper kernel where it runs, else flash, else simple), >= 0 flash tile
// variant, kSimple the general kernel, kHopper the Hopper kernel
constexpr int kAuto = -1, kSimple = 1000, kHopper = 1001;

AttentionKernelRun run(CudaBackend& be, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref,
                const Tensor* v_ref, Tensor& out, const AttentionParams& p, int choice) {
  be.ensure_usable();
  AttnPrepared pr = prepare_attention(q, k, v, k_ref, v_ref, out, p);
  if (pr.empty) return {"none (empty)", 0};
  AttnArgs& a = pr.args;
#ifdef INDETAIL_WITH_SM90A
  if (choice == kAuto || choice == kHopper) {
    const std::string why = be.hopper_kernels() ? sm90_attention_problem(a, pr.dtype) : "not a compute capability 9.0 device";
    if (why.empty()) {
      launch_attention_sm90(a, pr.dtype, be.stream());
      be.check_launch(kOp);
      return {"sm90 d" + std::to_string(a.head_dim) + " (BR 128, BC " +
                  std::to_string(sm90_attention_keys_per_tile(a.head_dim)) + ")",
              0};
    }
    if (choice == kHopper) fail(ErrorKind::Unsupported, kOp, ": the Hopper kernel does not take this call: ", why);
  }
#endif
  check_arg(choice != kHopper, kOp, ": this build has no Hopper (sm_90a) kernels");
  const bool flash = choice == kAuto ? pr.flash_ok : choice != kSimple;
  if (flash && !pr.flash_ok)
    fail(ErrorKind::Unsupported, kOp, ": the flash kernel needs a head dim that is a multiple of 8 up to 256 and ",
         "16-byte aligned rows (row strides and column offsets multiples of 8 elements); got head dim ", a.head_dim);
  if (!flash) {
    if (a.head_dim > kAttnSimpleMaxHeadDim)
      fail(ErrorKind::Unsupported, kOp, ": head dim ", a.head_dim, " is larger than the ", kAttnSimpleMaxHeadDim,
           " the CUDA attention kernels support");
    launch_attention_simple(a, pr.dtype, be.stream());
    be.check_launch(kOp);
    return {"simple", 0};
  }
  const int variant = choice == kAuto ? 0 : choice;
  const FlashConfig cfg = flash_config(a.head_dim, variant);
  Tensor scratch;  // stratified stash in global memory when shared memory cannot hold it
  bool stash_in_smem = true;
  if (a.mode == kAttnStratified) {
    int optin = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, be.device_index()));
    if (cfg.smem_bytes + cfg.stash_bytes > optin) {
      stash_in_smem = false;
      const int64_t ctas = (int64_t)((a.q_len + cfg.block_rows - 1) / cfg.block_rows) * a.heads * a.frames;
      scratch = be.empty(DType::F32, {ctas * (cfg.stash_bytes / 4)});
      a.stash = scratch.data<float>();
    }
  }
  launch_flash_attention(a, pr.dtype, stash_in_smem, variant, be.stream());
  be.check_launch(kOp);
  return {"flash d" + std::to_string(cfg.dmax) + " v" + std::to_string(cfg.variant) + " (BR " +
              std::to_string(cfg.block_rows) + ", BC " + std::to_string(cfg.block_keys) + ")" +
              (stash_in_smem ? "" : ", global stash"),
          scratch.defined() ? (uint64_t)scratch.nbytes() : 0};
}

}  // namespace

AttentionKernelRun attention_with_kernel(Backend& backend, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor* k_ref, const Tensor* v_ref, Tensor& out, const AttentionParams& p,
                                  const std::string& kernel) {
  auto* be = dynamic_cast<CudaBackend*>(&backend);
  check_arg(be != nullptr, kOp, ": kernel choice '", kernel, "' needs a CUDA engine, got ", backend.name());
  int choice;
  if (kernel == "auto")
    choice = kAuto;
  else if (kernel == "simple")
    choice = kSimple;
  else if (kernel == "sm90")
    choice = kHopper;
  else if (kernel == "flash")
    choice = 0;
  else if (kernel.rfind("flash:", 0) == 0 && kernel.size() == 7 && kernel[6] >= '0' && kernel[6] <= '9')
    choice = kernel[6] - '0';
  else
    fail(ErrorKind::InvalidArgument, kOp, ": unknown kernel '", kernel, "' (auto, flash, flash:<n>, simple, sm90)");
  return run(*be, q, k, v, k_ref, v_ref, out, p, choice);
}

}  // namespace cuda

void CudaBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* k_ref,
                            const Tensor* v_ref, Tensor& out, const AttentionParams& p) {
  cuda::run(*this, q, k, v, k_ref, v_ref, out, p, cuda::kAuto);
}

}  // namespace indetail
