// glibc malloc tuning applied when the addon loads. Model loads and forwards run on worker
// threads, each with its own glibc arena; glibc raises its trim threshold dynamically (up to
// 64 MiB) whenever a large block is freed, and malloc_trim never shrinks the top of a worker
// thread's heap, so memory freed there stayed resident: every load/dispose cycle of a pipeline
// left the process larger until each worker's heap had grown to its peak. A fixed trim threshold
// (128 KiB, glibc's own default before that adjustment) returns it. Not applied when the user
// tunes malloc through MALLOC_TRIM_THRESHOLD_ / GLIBC_TUNABLES, or sets INDETAIL_MALLOC_TUNING=0.
#include <napi.h>

#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "registry.h"

namespace indetail {
namespace binding {

namespace {

bool user_tunes_malloc() {
  const char* off = std::getenv("INDETAIL_MALLOC_TUNING");
  if (off && std::strcmp(off, "0") == 0) return true;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return std::getenv("MALLOC_TRIM_THRESHOLD_") || (tunables && std::strstr(tunables, "malloc."));
}

void Init(Napi::Env, Napi::Object) {
#if defined(__GLIBC__)
  static bool applied = false;  // once per process (the addon may load in several environments)
  if (!applied && !user_tunes_malloc()) mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  applied = true;
#endif
}

}  // namespace

INDETAIL_BINDING(malloc_policy, Init);

}  // namespace binding
}  // namespace indetail
