// ThreadUsage: what the calling thread has used so far: its CPU time, its page faults, and
// how often it stopped running. A pause or a collection is measured in wall time, and on a
// loaded machine part of that wall time the VM's thread did not run: it waited (blocked:
// a page fault that another thread serves, such as a snapshot's userfaultfd, or a lock)
// or was preempted (ready, while the scheduler gave its core to another thread). Both
// spaces run on one thread, so the thread's CPU time over a pause is the work the pause
// did (threads of its own, such as a page release, not included). On this machine kind a
// first write to a fresh page costs 6-12 us: a pause that faults thousands of times spends
// most of itself there, and the count says so where its time alone cannot.
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <cstdint>

namespace space {

// The CPU time the calling thread has run, in nanoseconds (clock_gettime: a system call,
// about a microsecond on a virtual machine; read per collection or pause, never per object).
inline uint64_t threadCpuNanos() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return uint64_t(t.tv_sec) * 1000000000u + uint64_t(t.tv_nsec);
}

inline int64_t threadCpuMicros() {
  return int64_t(threadCpuNanos() / 1000);
}

struct ThreadUsage {
  uint64_t cpuNanos = 0;
  uint64_t faults = 0;       // minor and major
  uint64_t waits = 0;        // voluntary context switches: the thread blocked
  uint64_t preemptions = 0;  // involuntary ones: its core went to another thread

  // The calling thread's usage so far.
  static ThreadUsage now() {
    ThreadUsage usage;
    usage.cpuNanos = threadCpuNanos();
    rusage u{};
    if (getrusage(RUSAGE_THREAD, &u) == 0) {
      usage.faults = uint64_t(u.ru_minflt) + uint64_t(u.ru_majflt);
      usage.waits = uint64_t(u.ru_nvcsw);
      usage.preemptions = uint64_t(u.ru_nivcsw);
    }
    return usage;
  }

  // What the thread used from `earlier` (an earlier now() of the same thread) to this.
  ThreadUsage since(const ThreadUsage& earlier) const {
    return {cpuNanos - earlier.cpuNanos, faults - earlier.faults, waits - earlier.waits,
            preemptions - earlier.preemptions};
  }
};

}  // namespace space
