#include "kv_cache.h"

#include "../core/error.h"

namespace indetail {

ImagePromptKVCache::ImagePromptKVCache(uint64_t model_id, int64_t layers, int64_t steps, int64_t rows)
    : model_id_(model_id), layers_(layers), rows_(rows) {
  check_arg(layers > 0, "image-prompt K/V cache: the model has no decoder self-attention layer to cache");
  check_arg(steps >= 1, "image-prompt K/V cache: steps must be at least 1, got ", steps);
  check_arg(rows >= 1, "image-prompt K/V cache: rows must be at least 1, got ", rows);
  steps_.resize((size_t)steps);
}

void ImagePromptKVCache::check_step(int64_t step, const char* what) const {
  check_arg(step >= 0 && step < (int64_t)steps_.size(), "image-prompt K/V cache: ", what, " step ", step,
            " is not in [0, ", steps_.size(), ")");
}

bool ImagePromptKVCache::has(int64_t step) const {
  std::lock_guard<std::mutex> lk(m_);
  return step >= 0 && step < (int64_t)steps_.size() && !steps_[(size_t)step].empty();
}

DecoderKV ImagePromptKVCache::at(int64_t step) const {
  std::lock_guard<std::mutex> lk(m_);
  check_step(step, "read of");
  check_arg(!steps_[(size_t)step].empty(), "image-prompt K/V cache: step ", step, " is not recorded");
  return steps_[(size_t)step];
}

void ImagePromptKVCache::put(int64_t step, DecoderKV kv) {
  check_arg((int64_t)kv.size() == layers_, "image-prompt K/V cache: a step holds ", layers_, " layers, got ", kv.size());
  for (size_t i = 0; i < kv.size(); ++i) {
    const AttnKV& l = kv[i];
    check_arg(l.k.defined() && l.v.defined() && l.k.dim() == 3 && l.k.shape() == l.v.shape() && l.k.size(0) == rows_,
              "image-prompt K/V cache: layer ", i, " must hold K and V of shape [", rows_, ", tokens, width]");
  }
  std::lock_guard<std::mutex> lk(m_);
  check_step(step, "write of");
  steps_[(size_t)step] = std::move(kv);
}

void ImagePromptKVCache::erase(int64_t step) {
  DecoderKV drop;  // freed outside the lock
  std::lock_guard<std::mutex> lk(m_);
  check_step(step, "erase of");
  drop.swap(steps_[(size_t)step]);
}

void ImagePromptKVCache::clear() {
  std::vector<DecoderKV> drop(steps_.size());
  std::lock_guard<std::mutex> lk(m_);
  drop.swap(steps_);
}

int64_t ImagePromptKVCache::recorded_steps() const {
  std::lock_guard<std::mutex> lk(m_);
  int64_t n = 0;
  for (const auto& s : steps_) n += s.empty() ? 0 : 1;
  return n;
}

uint64_t ImagePromptKVCache::bytes() const {
  std::lock_guard<std::mutex> lk(m_);
  uint64_t b = 0;
  for (const auto& s : steps_)
    for (const auto& l : s) b += l.k.nbytes() + l.v.nbytes();
  return b;
}

}  // namespace indetail
