// embedding (token ids -> table rows) and timestep_embedding (diffusers get_timestep_embedding).
#include <cmath>
#include <cstring>
#include <vector>

#include "../core/threadpool.h"
#include "cpu_backend.h"
#include "op_util.h"

namespace indetail {

void CpuBackend::embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
  using namespace cpu;
  const char* op = "embedding";
  check_device(op, "ids", ids, Device::CPU);
  check_dtype(op, "ids", ids, DType::I32);
  check_f32(op, "table", table);
  check_f32(op, "out", out);
  check_rank(op, "ids", ids, 2);
  check_rank(op, "table", table, 2);
  check_arg(is_plain(table), "embedding: table must be a plain [V, C] tensor (prepared with 'table' or 'vector')");
  const int64_t n = ids.size(0), l = ids.size(1), vocab = table.size(0), c = table.size(1);
  check_shape(op, "out", out, {n, l, c});
  const int32_t* id = ids.data<int32_t>();
  for (int64_t i = 0; i < n * l; ++i)
    check_arg(id[i] >= 0 && id[i] < vocab, "embedding: id ", id[i], " at position ", i, " is outside the table of ",
              vocab, " rows");
  const float* t = table.data<float>();
  float* y = out.data<float>();
  parallel_for(n * l, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(y + i * c, t + (int64_t)id[i] * c, (size_t)c * sizeof(float));
  });
}

// Computed like torch in float32: exponent = (float)(-ln max_period) · i / (half - shift),
// freq = exp(exponent), arg = t · freq · scale, then [sin | cos] (or [cos | sin]), zero-padded
// to an odd dim.
void CpuBackend::timestep_embedding(const Tensor& t, Tensor& out, const TimestepEmbeddingParams& p) {
  using namespace cpu;
  const char* op = "timestep_embedding";
  check_f32(op, "t", t);
  check_f32(op, "out", out);
  check_rank(op, "t", t, 1);
  check_rank(op, "out", out, 2);
  check_arg(out.size(0) == t.size(0), "timestep_embedding: out ", out.describe(), " must have one row per timestep of ",
            t.describe());
  const int64_t n = t.size(0), dim = out.size(1), half = dim / 2;
  check_arg(dim >= 2, "timestep_embedding: the embedding needs at least 2 channels, got ", out.describe());
  check_arg(p.max_period > 0 && std::isfinite(p.max_period), "timestep_embedding: max_period must be positive, got ",
            p.max_period);
  check_arg((float)half - p.freq_shift != 0.0f, "timestep_embedding: half the dimension (", half,
            ") minus freq_shift must not be 0");
  const float neg_log = (float)(-std::log((double)p.max_period));
  const float denom = (float)((double)half - (double)p.freq_shift);
  std::vector<float> freq(half);
  for (int64_t i = 0; i < half; ++i) freq[i] = std::exp((neg_log * (float)i) / denom);
  const float* td = t.data<float>();
  float* y = out.data<float>();
  for (int64_t r = 0; r < n; ++r) {
    float* row = y + r * dim;
    float* sin_part = row + (p.flip_sin_to_cos ? half : 0);
    float* cos_part = row + (p.flip_sin_to_cos ? 0 : half);
    for (int64_t i = 0; i < half; ++i) {
      float arg = p.scale * (td[r] * freq[i]);
      sin_part[i] = (float)std::sin((double)arg);
      cos_part[i] = (float)std::cos((double)arg);
    }
    if (dim % 2) row[dim - 1] = 0.0f;
  }
}

}  // namespace indetail
