// HashThread: computes SHA-256 on a thread of its own, so that a writer's hashing (about
// 1.6 GB/s with SHA instructions, the slowest step of writing a page) overlaps its copying
// and write(2)s instead of adding to them. Jobs are hashed in the order queued.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "image/Sha256.h"

namespace image {

class HashThread {
 public:
  HashThread();
  ~HashThread();  // hashes what is queued, then ends
  HashThread(const HashThread&) = delete;
  HashThread& operator=(const HashThread&) = delete;

  // Queues adding [data, data + n) to `sha`. The bytes must stay unchanged, and `sha`
  // alive, until waitFor(the returned ticket) returns.
  uint64_t add(Sha256& sha, const void* data, size_t n);
  // Blocks until the job `ticket` and every job before it are hashed.
  void waitFor(uint64_t ticket);

 private:
  struct Job {
    Sha256* sha;
    const void* data;
    size_t n;
  };
  void run();

  std::mutex mutex_;
  std::condition_variable changed_;  // a job was queued or finished, or stop_ was set
  std::deque<Job> jobs_;             // queued, not yet hashed
  uint64_t queued_ = 0;              // tickets handed out; ticket k is the k-th job
  uint64_t hashed_ = 0;              // jobs hashed: tickets up to this are done
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above is ready
};

}  // namespace image
