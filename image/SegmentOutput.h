// SegmentOutput: one segment file being written by a writer thread: the bytes go to the
// file in the order given and into its SHA-256 (on a HashThread); finish() makes them
// durable (fsync). Every failure throws std::runtime_error naming the file and the errno.
// Writeback to disk is started every kWritebackBytes, so that the disk works while the
// writer does and the final fsync has little left to wait for.
//
// An existing file is overwritten in place rather than truncated first: its cached pages
// are then reused, where truncating would free them and the writes would allocate new ones
// (which costs more than the copy into them: 11 us a page on a VM that hands free pages
// back to its host). The file is cut to its final size up front.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "image/HashThread.h"
#include "image/PageWriter.h"
#include "image/Sha256.h"

namespace image {

class SegmentOutput {
 public:
  static constexpr size_t kWritebackBytes = 16 << 20;

  // Creates `name` in `directory`, or overwrites it in place: `bytes` is its final size.
  SegmentOutput(const std::string& directory, std::string name, size_t bytes, HashThread& hasher);
  ~SegmentOutput();  // closes the file if finish() was not reached
  SegmentOutput(const SegmentOutput&) = delete;
  SegmentOutput& operator=(const SegmentOutput&) = delete;

  // Writes [data, data + n) and queues it for hashing: the bytes must stay unchanged until
  // hasher.waitFor(the returned ticket).
  uint64_t append(const void* data, size_t n);
  // Starts writeback of what is not on its way to disk yet (the file's tail), without
  // waiting: the disk works on this segment while the writer goes on with the next, and
  // finish() has little left to wait for (PendingSegments).
  void startWriteback();
  // Flushes the file to disk, closes it and describes it.
  SegmentFile finish(uintptr_t start);

 private:
  [[noreturn]] void fail(const char* what, int error) const;

  std::string path_;
  std::string name_;
  int fd_ = -1;
  size_t bytes_ = 0;
  size_t writebackStarted_ = 0;  // bytes handed to writeback so far
  HashThread& hasher_;
  Sha256 sha_;
  uint64_t lastTicket_ = 0;  // of the last bytes queued for sha_
};

// "cannot <what> <path>: <strerror> (errno <n>)": the message of every I/O failure.
std::string ioFailure(const char* what, const std::string& path, int error);

}  // namespace image
