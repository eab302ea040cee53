// CollectorThreads: a round starts under the mutex (task, round number, count of helpers
// running), each helper runs the task once per round and counts itself out.
#include "space/CollectorThreads.h"

#include <sched.h>

#include "space/ThreadName.h"

namespace space {

CollectorThreads::CollectorThreads(unsigned helpers) {
  helpers_.reserve(helpers);
  for (unsigned i = 0; i < helpers; i++) helpers_.emplace_back([this, i] { helperLoop(i + 1); });
}

CollectorThreads::~CollectorThreads() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  started_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void CollectorThreads::run(const std::function<void(unsigned)>& task) {
  {
    std::lock_guard lock(mutex_);
    task_ = &task;
    round_++;
    running_ = unsigned(helpers_.size());
  }
  started_.notify_all();
  task(0);
  std::unique_lock lock(mutex_);
  finished_.wait(lock, [&] { return running_ == 0; });
  task_ = nullptr;
}

void CollectorThreads::helperLoop(unsigned worker) {
  nameThisThread("espell-gc");
  uint64_t done = 0;  // the last round this helper ran
  std::unique_lock lock(mutex_);
  while (true) {
    started_.wait(lock, [&] { return stopping_ || round_ != done; });
    if (stopping_) return;
    done = round_;
    const std::function<void(unsigned)>& task = *task_;
    lock.unlock();
    task(worker);
    lock.lock();
    if (--running_ == 0) finished_.notify_one();
  }
}

unsigned CollectorThreads::availableProcessors() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? unsigned(n) : 1;
}

}  // namespace space
