// OrderedJobs: a thread of its own, at background priority (BackgroundPriority.h), that runs
// queued jobs one at a time in the order queued, so that a writer's hashing and file
// writes overlap its copying instead of adding to it. add() answers a ticket;
// waitFor(ticket) returns once that job and every job before it are done. A job that
// fails answers a message: the first failure is kept and the jobs queued after it are
// skipped (done without running), so a writer learns of it at its next check and writes
// nothing past it. HashThread and WriteThread are its uses.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "image/BackgroundPriority.h"
#include "space/ThreadName.h"

namespace image {

template <typename Job>
class OrderedJobs {
 public:
  // Runs `job` on the thread, outside the lock; answers a failure's message, or "".
  using Runner = std::function<std::string(const Job&)>;

  // `name` names the thread (space/ThreadName.h).
  OrderedJobs(const char* name, Runner run)
      : run_(std::move(run)), thread_([this, name, group = BackgroundThreads::current()] {
          BackgroundThreads::Member member(group);
          space::nameThisThread(name);  // once its priority is set: whoever finds it by name sees it
          serve();
        }) {}
  // Runs (or skips, after a failure) what is queued, then ends.
  ~OrderedJobs() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  OrderedJobs(const OrderedJobs&) = delete;
  OrderedJobs& operator=(const OrderedJobs&) = delete;

  // Queues `job`; what it refers to must stay valid until waitFor(the ticket) returns.
  uint64_t add(Job job) {
    uint64_t ticket;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
      ticket = ++queued_;
    }
    changed_.notify_all();
    return ticket;
  }
  // Blocks until job `ticket` and every job before it are done (or skipped). Does not throw.
  void waitFor(uint64_t ticket) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return done_ >= ticket; });
  }
  // Blocks until every job queued so far is done. Does not throw.
  void waitForAll() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return done_ >= queued_; });
  }
  // Throws std::runtime_error with the first failure's message, if a job failed so far.
  void check() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failure_.empty()) throw std::runtime_error(failure_);
  }

 private:
  void serve() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and nothing is left
      Job job = jobs_.front();    // copied under the lock: add() may be growing the deque
      bool skip = !failure_.empty();
      lock.unlock();
      std::string failure = skip ? std::string() : run_(job);
      lock.lock();
      if (!failure.empty() && failure_.empty()) failure_ = std::move(failure);
      jobs_.pop_front();
      done_++;
      changed_.notify_all();
    }
  }

  Runner run_;
  std::mutex mutex_;
  std::condition_variable changed_;  // a job was queued or done, or stop_ was set
  std::deque<Job> jobs_;             // queued, not yet done (the front one may be running)
  uint64_t queued_ = 0;              // tickets handed out; ticket k is the k-th job
  uint64_t done_ = 0;                // jobs done: tickets up to this are run (or skipped)
  std::string failure_;              // the first failure's message
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above is ready
};

}  // namespace image
