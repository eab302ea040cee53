// WritePacing: how fast a cow snapshot's writer may go. While the program it snapshots is
// busy, the writer holds a rate (kBusyMiBPerSecond; ESPELL_SNAPSHOT_BUSY_MIBS=N sets N MiB/s,
// 0 for no limit); while the program is idle it goes as fast as the disk takes.
//
// Why, when the writer's threads already run under SCHED_IDLE (BackgroundPriority.h): on
// a virtual machine, a thread woken on a core that runs anything waits for an interrupt
// between cores, where a core that is idle polls and takes it at once. The hub's wakeups
// (one or more a request) waited 20 us at the median when the core had been idle and
// 45-47 us when it had been running the snapshot's copier or hasher, and 56-155 times a
// second over 0.1 ms during a 1 GiB snapshot against 8 without one
// (scripts/bench/snapshot-sched, docs/PERFORMANCE.md). However low their priority, the
// snapshot's threads cost the program in proportion to the time they run beside it:
// unpaced, the clients' p99 during a 1 GiB snapshot under load was 1.6-3.8x the p99
// before it, over 2x in four of six runs; paced, 1.1-1.6x in six of six. The price is
// time: a busy program's 1 GiB snapshot takes about a minute, its saved pages spilled to
// disk meanwhile (CowCapture::spillAtPages). Whoever waits for the writer (a full
// collection, finish()) lifts the pacing at once, and so does a full collection falling
// due (Space::holdPages: until the writer is done, old space takes fresh memory for what
// it holds, and a collection forced meanwhile would wait for all that is left).
#pragma once

#include <chrono>
#include <cstddef>

namespace image {

class WritePacing {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr double kBusyMiBPerSecond = 25;
  // The rate while the program is busy, in bytes a second: ESPELL_SNAPSHOT_BUSY_MIBS or
  // kBusyMiBPerSecond; 0 means no limit.
  static double busyBytesPerSecondFromEnvironment();

  // `busyBytesPerSecond` 0: never waits.
  explicit WritePacing(double busyBytesPerSecond);
  // The writer wrote `bytes` just before `now`, and the program is busy or not: answers
  // until when the writer waits before its next batch (`now`: it goes on at once). A busy
  // stretch starts with credit for one batch, so an idle program's writer never waits and
  // a busy one's averages the rate.
  Clock::time_point after(size_t bytes, bool programBusy, Clock::time_point now);

 private:
  double bytesPerSecond_;
  bool busy_ = false;
  Clock::time_point next_{};  // while busy: when the bytes written so far are paid for
};

}  // namespace image
