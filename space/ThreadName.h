// ThreadName: names the calling thread, so that top -H, perf, gdb and /proc/PID/task/*/comm
// tell the VM's threads apart (the heartbeat, the page release thread, a snapshot's copier,
// hasher, writes and fsyncs...). scripts/bench/snapshot-sched attributes the program's
// scheduling delays to threads by these names. Linux keeps at most 15 characters.
#pragma once

#include <pthread.h>

#include <cstring>

#include "space/Assert.h"

namespace space {

inline void nameThisThread(const char* name) {
  ESPELL_ASSERT(std::strlen(name) <= 15, "Linux keeps 15 characters of a thread's name");
  pthread_setname_np(pthread_self(), name);  // best effort: a name only helps the tools
}

}  // namespace space
