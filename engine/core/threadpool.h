// A fork-join pool for the CPU backend: parallel_for splits [0, n) into chunks run by the
// pool's workers and the calling thread. Nested calls run inline on the calling thread.
#pragma once
#include <cstdint>
#include <functional>

namespace indetail {

// Number of threads parallel_for uses (including the caller). Defaults to the CPUs this process
// may run on, or INDETAIL_THREADS when set.
int num_threads();
void set_num_threads(int n);

// Calls fn(begin, end) over disjoint ranges covering [0, n); each range holds at least `grain`
// items (except possibly the last). Exceptions thrown by fn are rethrown on the caller.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace indetail
