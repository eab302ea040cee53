// ThreadPageFaults: the page faults the calling thread has taken so far, minor and major.
// On this machine kind a first write to a fresh page costs 6-12 us: a pause that faults
// thousands of times spends most of itself there, and the count says so where its time
// alone cannot (what an update's pause writes ahead of time should fault nowhere).
#pragma once

#include <sys/resource.h>

#include <cstdint>

namespace vm {

inline int64_t threadPageFaults() {
  rusage u{};
  if (getrusage(RUSAGE_THREAD, &u) != 0) return 0;
  return int64_t(u.ru_minflt) + int64_t(u.ru_majflt);
}

}  // namespace vm
