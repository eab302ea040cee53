// WritePacing: an idle program's writer never waits; a busy one's averages the busy rate,
// the first batch of each busy stretch free; a writer slower than the rate never waits;
// no rate, no waiting. ProgramActivity: a thread that computes reads as busy, also when
// it gets only a slice of a core; one that sleeps as idle.
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "image/ProgramActivity.h"
#include "image/WritePacing.h"

using namespace image;
using Clock = WritePacing::Clock;
using std::chrono::milliseconds;

namespace {

constexpr size_t kMiB = size_t(1) << 20;

bool pinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

int64_t threadCpuMicros(pthread_t thread) {
  clockid_t clock;
  timespec t{};
  if (pthread_getcpuclockid(thread, &clock) != 0 || clock_gettime(clock, &t) != 0) return -1;
  return int64_t(t.tv_sec) * 1000000 + t.tv_nsec / 1000;
}

}  // namespace

TEST_CASE("WritePacing: an idle program's writer goes on at once, a busy one's holds the rate") {
  WritePacing pacing(10.0 * kMiB);  // 10 MiB/s: 100 ms a MiB
  Clock::time_point t{};
  for (int i = 0; i < 5; i++) CHECK(pacing.after(kMiB, false, t) == t);  // idle: never waits

  SUBCASE("busy: the first batch is free, each one after it costs 100 ms") {
    CHECK(pacing.after(kMiB, true, t) == t);
    CHECK(pacing.after(kMiB, true, t) == t + milliseconds(100));
    CHECK(pacing.after(kMiB, true, t + milliseconds(100)) == t + milliseconds(200));
    // Ten batches written as fast as they come average the rate.
    Clock::time_point until = t + milliseconds(200);
    for (int i = 0; i < 10; i++) until = pacing.after(kMiB, true, until);
    CHECK(until == t + milliseconds(1200));
  }
  SUBCASE("busy, a writer slower than the rate never waits, and builds no credit") {
    CHECK(pacing.after(kMiB, true, t) == t);
    Clock::time_point now = t + milliseconds(500);
    CHECK(pacing.after(kMiB, true, now) == now);
    now += milliseconds(500);
    CHECK(pacing.after(kMiB, true, now) == now);
    CHECK(pacing.after(kMiB, true, now) == now + milliseconds(100));  // no credit from the slow stretch
  }
  SUBCASE("idle again ends the stretch: the next busy one starts free") {
    CHECK(pacing.after(kMiB, true, t) == t);
    CHECK(pacing.after(kMiB, true, t) == t + milliseconds(100));
    CHECK(pacing.after(kMiB, false, t + milliseconds(10)) == t + milliseconds(10));
    CHECK(pacing.after(kMiB, true, t + milliseconds(20)) == t + milliseconds(20));
    CHECK(pacing.after(kMiB, true, t + milliseconds(20)) == t + milliseconds(120));
  }
}

TEST_CASE("WritePacing: no rate, no waiting; the rate comes from ESPELL_SNAPSHOT_BUSY_MIBS") {
  WritePacing unlimited(0);
  Clock::time_point t{};
  for (int i = 0; i < 5; i++) CHECK(unlimited.after(kMiB, true, t) == t);
  unsetenv("ESPELL_SNAPSHOT_BUSY_MIBS");
  CHECK(WritePacing::busyBytesPerSecondFromEnvironment() == WritePacing::kBusyMiBPerSecond * kMiB);
  setenv("ESPELL_SNAPSHOT_BUSY_MIBS", "8", 1);
  CHECK(WritePacing::busyBytesPerSecondFromEnvironment() == 8.0 * kMiB);
  setenv("ESPELL_SNAPSHOT_BUSY_MIBS", "0", 1);
  CHECK(WritePacing::busyBytesPerSecondFromEnvironment() == 0);
  setenv("ESPELL_SNAPSHOT_BUSY_MIBS", "-3", 1);
  CHECK(WritePacing::busyBytesPerSecondFromEnvironment() == 0);
  unsetenv("ESPELL_SNAPSHOT_BUSY_MIBS");
}

TEST_CASE("ProgramActivity: a thread that computes reads as busy, one that sleeps as idle") {
  ProgramActivity activity;  // of this thread
  std::atomic<bool> busy{false};
  std::atomic<bool> asked{false};
  std::thread observer([&] {
    // The window is 10 ms: ask over 100 ms of each.
    std::this_thread::sleep_for(milliseconds(30));
    bool sawBusy = false;
    for (int i = 0; i < 10; i++) {
      std::this_thread::sleep_for(milliseconds(11));
      sawBusy = activity.busy() || sawBusy;
    }
    busy = sawBusy;
    asked = true;
  });
  // Computes until the observer is done.
  volatile uint64_t x = 1;
  while (!asked.load()) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  observer.join();
  CHECK(busy.load());

  ProgramActivity sleeper;
  std::thread idleObserver([&] {
    bool sawBusy = false;
    std::this_thread::sleep_for(milliseconds(30));
    (void)sleeper.busy();  // the window that held its making
    for (int i = 0; i < 5; i++) {
      std::this_thread::sleep_for(milliseconds(11));
      sawBusy = sleeper.busy() || sawBusy;
    }
    busy = sawBusy;
  });
  idleObserver.join();  // this thread sleeps in join meanwhile
  CHECK_FALSE(busy.load());
}

TEST_CASE("ProgramActivity: a thread that computes on a core shared with many reads as busy, though it runs little") {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (cpus.size() < 2) {
    MESSAGE("skipped: one core; the observer needs a core of its own");
    return;
  }
  constexpr int kOthers = 12;  // the measured thread gets about 1/13 of the shared core
  std::atomic<bool> done{false};
  std::atomic<bool> pinned{true};
  auto compute = [&] {
    volatile uint64_t x = 1;
    while (!done.load(std::memory_order_relaxed)) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  };
  std::vector<std::thread> others;
  for (int i = 0; i < kOthers; i++)
    others.emplace_back([&] {
      if (!pinTo(cpus[0])) pinned = false;
      compute();
    });
  std::optional<ProgramActivity> activity;
  std::atomic<bool> made{false};
  std::thread measured([&] {
    if (!pinTo(cpus[0])) pinned = false;
    activity.emplace();  // of this thread
    made = true;
    compute();
  });
  while (!made.load()) std::this_thread::sleep_for(milliseconds(1));
  int busyWindows = 0;
  int64_t cpuBefore = 0, cpuAfter = 0;
  Clock::time_point start{}, end{};
  if (pinTo(cpus[1])) {
    std::this_thread::sleep_for(milliseconds(30));
    (void)activity->busy();  // ends the window that held its making
    cpuBefore = threadCpuMicros(measured.native_handle());
    start = Clock::now();
    for (int i = 0; i < 10; i++) {
      std::this_thread::sleep_for(milliseconds(11));
      busyWindows += activity->busy();
    }
    cpuAfter = threadCpuMicros(measured.native_handle());
    end = Clock::now();
  } else {
    pinned = false;
  }
  done = true;
  measured.join();
  for (std::thread& t : others) t.join();
  if (!pinned.load()) {
    MESSAGE("skipped: threads cannot be pinned to a core here");
    return;
  }
  REQUIRE(activity->seesWaiting());
  double share =
      double(cpuAfter - cpuBefore) / double(std::chrono::duration_cast<std::chrono::microseconds>(end - start).count());
  MESSAGE("ran ", share * 100, "% of its core; busy in ", busyWindows, " windows of 10");
  // What the test is about: its CPU time alone reads as idle.
  CHECK(share < ProgramActivity::kBusyShare);
  CHECK(busyWindows >= 9);
}
