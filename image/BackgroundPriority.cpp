// BackgroundPriority: see BackgroundPriority.h.
#include "image/BackgroundPriority.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace image {

namespace {

// Between the program (0) and the lowest (19), measured on the 1 GiB hub under load
// (docs/PERFORMANCE.md): at 19 the clients' p99 stayed within 2x, but the writer gave way
// to every other process too and the pages stayed protected long enough for the
// program's saved pages to pass 2% of the heap; at 0 the p99 was 4.7-16x; at 10 the extra
// memory stays about 1% and the writer keeps most of its speed.
constexpr int kNice = 10;

}  // namespace

void lowerThreadPriority() {
  int nice = kNice;
  if (const char* forced = std::getenv("ESPELL_SNAPSHOT_NICE")) {
    if (std::strcmp(forced, "idle") == 0) {
      // Only cores nothing else wants; a wakeup of any other thread preempts it at once.
      sched_param none{};
      sched_setscheduler(0, SCHED_IDLE, &none);
      return;
    }
    nice = std::atoi(forced);
  }
  // On Linux the niceness is per thread: PRIO_PROCESS with a thread id sets that thread's.
  if (nice > 0) setpriority(PRIO_PROCESS, id_t(gettid()), nice);
}

}  // namespace image
