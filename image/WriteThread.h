// WriteThread: pwrite(2)s on a thread of its own, in the order queued, so that a writer's
// file writes overlap its copying (and the HashThread's hashing) instead of adding to
// them. It matters most for files opened with O_DIRECT, where each write waits for the
// disk (about 1.2 ms a MiB here): the writer copies the next batch meanwhile. A write that
// O_DIRECT refuses (EINVAL: an alignment the device or file system does not take) turns
// O_DIRECT off for its file and is written again. The first failure stops the writes
// after it and is reported by check().
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace image {

class WriteThread {
 public:
  WriteThread();
  ~WriteThread();  // writes what is queued, then ends
  WriteThread(const WriteThread&) = delete;
  WriteThread& operator=(const WriteThread&) = delete;

  // Queues writing all of [data, data + n) to `fd` at `offset`. The bytes must stay
  // unchanged, and `fd` open and `path` alive (it names the file in a failure), until
  // waitFor(the returned ticket) returns.
  uint64_t add(int fd, const void* data, size_t n, size_t offset, const std::string& path);
  // Blocks until the write `ticket` and every write before it are done (or skipped after a
  // failure). Does not throw.
  void waitFor(uint64_t ticket);
  // Blocks until every write queued so far is done. Does not throw.
  void waitForAll();
  // Throws std::runtime_error naming the file and errno if a write failed so far.
  void check();

 private:
  struct Job {
    int fd;
    const void* data;
    size_t n;
    size_t offset;
    const std::string* path;
  };
  void run();

  std::mutex mutex_;
  std::condition_variable changed_;  // a job was queued or finished, or stop_ was set
  std::deque<Job> jobs_;             // queued, not yet written
  uint64_t queued_ = 0;              // tickets handed out; ticket k is the k-th job
  uint64_t written_ = 0;             // jobs done: tickets up to this are written (or skipped)
  std::string failure_;              // the first failure's message; later jobs are skipped
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above is ready
};

}  // namespace image
