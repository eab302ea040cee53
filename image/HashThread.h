// HashThread: computes SHA-256 on a thread of its own (OrderedJobs), so that a writer's
// hashing (about 1.6 GB/s with SHA instructions, the slowest step of writing a page)
// overlaps its copying and write(2)s instead of adding to them. Jobs are hashed in the
// order queued; destroying it hashes what is queued, then ends the thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/OrderedJobs.h"
#include "image/Sha256.h"

namespace image {

class HashThread {
 public:
  HashThread();

  // Queues adding [data, data + n) to `sha`. The bytes must stay unchanged, and `sha`
  // alive, until waitFor(the returned ticket) returns.
  uint64_t add(Sha256& sha, const void* data, size_t n) { return jobs_.add(Job{&sha, data, n}); }
  // Blocks until the job `ticket` and every job before it are hashed.
  void waitFor(uint64_t ticket) { jobs_.waitFor(ticket); }

 private:
  struct Job {
    Sha256* sha;
    const void* data;
    size_t n;
  };
  OrderedJobs<Job> jobs_;
};

}  // namespace image
