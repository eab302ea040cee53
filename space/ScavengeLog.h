// ScavengeLog: the pause of each of a space's last scavenges, for a chart finer than the
// totals of GcStats (the console plots every scavenge). A fixed ring: recording costs a
// scavenge two stores, and a reader that comes back late finds the newest kCapacity.
#pragma once

#include <array>
#include <cstdint>

namespace space {

class ScavengeLog {
 public:
  // Enough for a second of a busy service's scavenges (a 16 MiB eden filled at 1 GiB/s
  // is 64 a second) many times over; a reader asking once a second loses none.
  static constexpr uint64_t kCapacity = 1024;

  struct Entry {
    int64_t endMicros = 0;  // when it ended (steady clock, as vm::Scheduler::nowMicros)
    uint64_t nanos = 0;     // how long it took
  };

  // Records scavenge number count() + 1.
  void record(int64_t endMicros, uint64_t nanos) {
    entries_[count_ % kCapacity] = Entry{endMicros, nanos};
    count_++;
  }
  // Scavenges recorded since the start; they are numbered 1..count().
  uint64_t count() const { return count_; }
  // The number of the oldest scavenge still held (count() + 1 when none is).
  uint64_t oldest() const { return count_ > kCapacity ? count_ - kCapacity + 1 : 1; }
  // Scavenge number n, for oldest() <= n <= count().
  const Entry& at(uint64_t n) const { return entries_[(n - 1) % kCapacity]; }

 private:
  std::array<Entry, kCapacity> entries_{};
  uint64_t count_ = 0;
};

}  // namespace space
