// Cooperative cancellation of long engine work. The caller owns a CancelToken and sets it from
// any thread (the binding does so when a JavaScript AbortSignal fires); the models poll it at
// their check points (between UNet blocks, VAE blocks and tiles), and a set token turns into an
// Error of kind Cancelled there. Work stops between ops, never inside one, so everything it
// allocated is released as the exception unwinds and the model stays usable.
#pragma once
#include <atomic>
#include <cstdint>
#include <utility>

#include "error.h"

namespace indetail {

class CancelToken {
 public:
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

  // Check points passed by every token of the process (tests: how often work polls).
  static uint64_t total_checks() { return checks_.load(std::memory_order_relaxed); }

 private:
  template <typename... Where>
  friend void check_cancel(const CancelToken* token, Where&&... where);
  static void count_check() { checks_.fetch_add(1, std::memory_order_relaxed); }
  std::atomic<bool> cancelled_{false};
  static inline std::atomic<uint64_t> checks_{0};
};

// A check point: throws Error(Cancelled, "cancelled in " + where...) when `token` is set (null:
// never). The message is only built then: check_cancel(cancel, "UNet down block ", i).
template <typename... Where>
void check_cancel(const CancelToken* token, Where&&... where) {
  if (!token) return;
  CancelToken::count_check();
  if (token->cancelled()) fail(ErrorKind::Cancelled, "cancelled in ", std::forward<Where>(where)...);
}

}  // namespace indetail
