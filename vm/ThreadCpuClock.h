// ThreadCpuClock: the CPU time the calling thread has run, in microseconds. A pause is
// measured in wall time; on a loaded machine part of that wall time the VM's thread
// waited for a core. Both spaces run on one thread, so the thread's CPU time over a pause
// is the work the pause did (threads of its own, such as a page release, not included).
#pragma once

#include <time.h>

#include <cstdint>

namespace vm {

inline int64_t threadCpuMicros() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return int64_t(t.tv_sec) * 1000000 + t.tv_nsec / 1000;
}

}  // namespace vm
