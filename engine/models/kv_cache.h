// The image prompt's keys and values in the UNet decoder's self-attention (attn1 of the up
// blocks), recorded once per denoising step and read back as AttentionParams k_ref / v_ref by
// later forwards (DESIGN.md §5): the image-prompt rows then leave the batch. The tensors live on
// the model's backend (device memory on CUDA) in its compute dtype.
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>

#include "../core/tensor.h"

namespace indetail {

struct AttnKV {
  Tensor k, v;  // [rows, tokens, heads * head_dim] each
};

// One pair per decoder attn1 layer, in the model's layer order (AttentionBlock::kv_slot).
using DecoderKV = std::vector<AttnKV>;

// Per denoising step, the DecoderKV of `rows` reference rows (the image prompt's positive row,
// and its negative row under conflicting guidance). Steps are recorded independently, so an
// entry may hold some steps only. Thread-safe: JavaScript reads sizes while a forward records.
class ImagePromptKVCache {
 public:
  // model_id: UNetModel::id() of the model it is recorded with; layers: its kv_layers().
  ImagePromptKVCache(uint64_t model_id, int64_t layers, int64_t steps, int64_t rows);

  uint64_t model_id() const { return model_id_; }
  int64_t layers() const { return layers_; }
  int64_t steps() const { return (int64_t)steps_.size(); }
  int64_t rows() const { return rows_; }

  bool has(int64_t step) const;
  // The step's tensors (shared, not copied); throws when the step is not recorded.
  DecoderKV at(int64_t step) const;
  // Stores a step recorded by UNetModel::forward (one pair per layer, `rows` rows each).
  void put(int64_t step, DecoderKV kv);
  void erase(int64_t step);
  void clear();

  int64_t recorded_steps() const;
  uint64_t bytes() const;  // logical size of every tensor held

 private:
  void check_step(int64_t step, const char* what) const;

  const uint64_t model_id_;
  const int64_t layers_, rows_;
  mutable std::mutex m_;
  std::vector<DecoderKV> steps_;  // empty = not recorded
};

}  // namespace indetail
