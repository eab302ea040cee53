// WriteThread: pwrite(2)s on a thread of its own (OrderedJobs), in the order queued, so
// that a writer's file writes overlap its copying (and the HashThread's hashing) instead
// of adding to them. It matters most for files opened with O_DIRECT, where each write
// waits for the disk (about 1.2 ms a MiB here): the writer copies the next batch
// meanwhile. A write that O_DIRECT refuses (EINVAL: an alignment the device or file
// system does not take) turns O_DIRECT off for its file and is written again. The first
// failure stops the writes after it and is reported by check().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "image/OrderedJobs.h"

namespace image {

class WriteThread {
 public:
  WriteThread();
  // Destroying it writes what is queued (skipping it after a failure), then ends the thread.

  // Queues writing all of [data, data + n) to `fd` at `offset`. The bytes must stay
  // unchanged, and `fd` open and `path` alive (it names the file in a failure), until
  // waitFor(the returned ticket) returns.
  uint64_t add(int fd, const void* data, size_t n, size_t offset, const std::string& path) {
    return jobs_.add(Job{fd, data, n, offset, &path});
  }
  // Blocks until the write `ticket` and every write before it are done (or skipped after a
  // failure). Does not throw.
  void waitFor(uint64_t ticket) { jobs_.waitFor(ticket); }
  // Blocks until every write queued so far is done. Does not throw.
  void waitForAll() { jobs_.waitForAll(); }
  // Throws std::runtime_error naming the file and errno if a write failed so far.
  void check() { jobs_.check(); }

 private:
  struct Job {
    int fd;
    const void* data;
    size_t n;
    size_t offset;
    const std::string* path;
  };
  OrderedJobs<Job> jobs_;
};

}  // namespace image
