#include "parallel.h"

#include <algorithm>
#include <atomic>

#include "../core/threadpool.h"

namespace indetail {
namespace cpu {

int task_workers(int64_t tasks) { return (int)std::max<int64_t>(1, std::min<int64_t>(tasks, num_threads())); }

void parallel_tasks(int64_t tasks, const std::function<void(int64_t, int)>& fn) {
  if (tasks <= 0) return;
  int workers = task_workers(tasks);
  std::atomic<int64_t> next{0};
  // One chunk per worker; when the pool runs nested calls inline, worker 0 takes every task.
  parallel_for(workers, 1, [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; ++w) {
      for (int64_t t = next.fetch_add(1); t < tasks; t = next.fetch_add(1)) fn(t, (int)w);
    }
  });
}

}  // namespace cpu
}  // namespace indetail
