// BackgroundPriority: see BackgroundPriority.h.
#include "image/BackgroundPriority.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>

namespace image {

namespace {

constexpr int kNice = 19;  // the lowest priority of SCHED_OTHER, still never starved outright

}  // namespace

void lowerThreadPriority() {
  int nice = kNice;
  if (const char* forced = std::getenv("ESPELL_SNAPSHOT_NICE")) nice = std::atoi(forced);
  // On Linux the niceness is per thread: PRIO_PROCESS with a thread id sets that thread's.
  if (nice > 0) setpriority(PRIO_PROCESS, id_t(gettid()), nice);
}

}  // namespace image
