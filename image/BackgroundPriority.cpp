// BackgroundPriority: see BackgroundPriority.h.
#include "image/BackgroundPriority.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace image {

void lowerThreadPriority() {
  if (const char* forced = std::getenv("ESPELL_SNAPSHOT_NICE"); forced && std::strcmp(forced, "idle") != 0) {
    // On Linux the niceness is per thread: PRIO_PROCESS with a thread id sets that thread's.
    int nice = std::atoi(forced);
    if (nice > 0) setpriority(PRIO_PROCESS, id_t(gettid()), nice);
    return;
  }
  // Only cores nothing else wants; a wakeup of any other thread preempts it at once.
  sched_param none{};
  sched_setscheduler(0, SCHED_IDLE, &none);
}

}  // namespace image
