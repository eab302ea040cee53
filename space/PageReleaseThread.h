// PageReleaseThread: the one thread for page work a space should not wait for. It gives
// pages their write permission back, and unmaps the copies saved of them, after a
// checkpoint ends (WriteTracker's releaseInBackground), and it writes once to every page
// of old space's spare segment (OldSpace::keepSpareSegment), so the space's own first
// writes there cost no fault. It lives as long as the process: a commit hands it a job
// and goes on, where starting a thread of its own cost a clone and a join in every
// update's pause.
//
// Jobs run one at a time in the order posted; waitFor(ticket) returns once the job of
// that ticket (and every one before it) is done. The thread is started at the first
// post and never stopped: a job still running at exit only changes page protections.
// A child of fork() has no such thread and must not post (ForkCapture's child does not).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace space {

class PageReleaseThread {
 public:
  using Ticket = uint64_t;
  // The process's release thread (made, not yet started, at the first call).
  static PageReleaseThread& instance();

  Ticket post(std::function<void()> job);
  void waitFor(Ticket ticket);
  // Whether the job of `ticket` (and every one before it) is done, without waiting. What
  // the job wrote is visible to the caller once this answers true.
  bool finished(Ticket ticket);
  // Jobs done so far (tests: the thread is reused, not remade).
  uint64_t jobsDone();
  // The id of the thread jobs run on; default-constructed before the first post.
  std::thread::id threadId();

 private:
  PageReleaseThread() = default;
  void run();

  std::mutex mutex_;
  std::condition_variable posted_;
  std::condition_variable done_;
  std::deque<std::function<void()>> jobs_;  // guarded by mutex_, oldest first
  Ticket lastPosted_ = 0;                   // tickets are 1, 2, ... in posting order
  Ticket lastDone_ = 0;                     // every job up to this ticket has run
  std::thread thread_;                      // started by the first post, never joined
};

}  // namespace space
