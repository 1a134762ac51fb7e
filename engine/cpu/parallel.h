// Task parallelism with a worker index, for kernels that need per-worker scratch: the scratch
// is allocated once per call (workers × size, from the backend's allocator) and each worker
// indexes its slice. Tasks are handed out dynamically, so uneven tasks and a busy machine
// still balance.
#pragma once
#include <cstdint>
#include <functional>

namespace indetail {
namespace cpu {

// How many workers parallel_tasks(tasks, ...) will use: min(tasks, num_threads()), at least 1.
int task_workers(int64_t tasks);

// Calls fn(task, worker) for every task in [0, tasks), worker < task_workers(tasks).
void parallel_tasks(int64_t tasks, const std::function<void(int64_t task, int worker)>& fn);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

}  // namespace cpu
}  // namespace indetail
