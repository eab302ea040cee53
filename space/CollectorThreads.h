// CollectorThreads: the helper threads one space's full collection shares its sweep with.
// The program is stopped while they run, so a second core that would otherwise wait
// shortens the pause; the threads sleep between collections.
//
// run(task) calls task(0) on the calling thread and task(1..helpers) on the helpers, and
// returns once every call has returned: what the helpers wrote is then visible to the
// caller, and what the caller wrote before run() is visible to them. Tasks must not throw.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace space {

class CollectorThreads {
 public:
  // Starts `helpers` threads (named "espell-gc").
  explicit CollectorThreads(unsigned helpers);
  ~CollectorThreads();  // stops and joins them
  CollectorThreads(const CollectorThreads&) = delete;
  CollectorThreads& operator=(const CollectorThreads&) = delete;

  // Threads a task runs on: the caller and the helpers.
  unsigned workers() const { return unsigned(helpers_.size()) + 1; }
  void run(const std::function<void(unsigned worker)>& task);

  // The processors this process may run on (its affinity mask, not the machine's count):
  // a collection gains nothing from more threads than that.
  static unsigned availableProcessors();

 private:
  void helperLoop(unsigned worker);

  std::mutex mutex_;
  std::condition_variable started_;  // a new task, or stopping_
  std::condition_variable finished_;
  // Guarded by mutex_: the task of the current round (null between rounds), the round's
  // number (a helper runs each round once), helpers still in it, and the end of the threads.
  const std::function<void(unsigned)>* task_ = nullptr;
  uint64_t round_ = 0;
  unsigned running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> helpers_;
};

}  // namespace space
