// MonotonicClock: microseconds on the steady clock, the one time line of every duration
// the VM measures and reports (pauses, snapshots, timers: vm::Scheduler::nowMicros is this).
// In space/ so that the page engine in image/, which needs only space/, shares it.
#pragma once

#include <chrono>
#include <cstdint>

namespace space {

inline int64_t monotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Nanoseconds on the steady clock since `start`: the collectors' phases and steps.
inline uint64_t nanosSince(std::chrono::steady_clock::time_point start) {
  return uint64_t(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
}

}  // namespace space
