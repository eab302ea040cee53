// SegmentOutput: one segment file being written by a writer thread: the bytes go to the
// file in the order given (on a WriteThread, if given one) and into its SHA-256 (on a
// HashThread); finish() makes them durable (fsync). Every failure throws
// std::runtime_error naming the file and the errno. Writeback to disk is started every
// kWritebackBytes, so that the disk works while the writer does and the final fsync has
// little left to wait for.
//
// FileWrites::Direct opens the file with O_DIRECT: the disk reads the writer's buffer,
// with no copy into the page cache. On this machine kind that copy is the writer's
// largest cost (new page-cache pages cost the host a fault each: 360-530 MB/s), where
// direct writes run at the disk's speed (810 MB/s) and leave the CPU to the program. The
// data must then be page aligned (address, size and offset); a write that is not turns
// O_DIRECT off for the rest of the file, and so does a file system without it.
//
// An existing file is overwritten in place rather than truncated first: its cached pages
// are then reused, where truncating would free them and the writes would allocate new ones
// (which costs more than the copy into them: 11 us a page on a VM that hands free pages
// back to its host). The file is cut to its final size up front, so in a new file the
// pages of zeros a writer marks as such are left as holes: they read as zeros and cost
// neither a write nor disk space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "image/HashThread.h"
#include "image/PageWriter.h"
#include "image/Sha256.h"
#include "image/WriteThread.h"

namespace image {

enum class FileWrites { Buffered, Direct };

class SegmentOutput {
 public:
  static constexpr size_t kWritebackBytes = 16 << 20;

  // The work append() queued on the data it was given: done once hasher.waitFor(hashed)
  // and, with a WriteThread, io.waitFor(written) return.
  struct Tickets {
    uint64_t hashed = 0;
    uint64_t written = 0;
  };

  // Creates `name` in `directory`, or overwrites it in place: `bytes` is its final size.
  // With `io`, writes happen there, overlapping the caller's work; without, in append().
  SegmentOutput(const std::string& directory, std::string name, size_t bytes, HashThread& hasher,
                WriteThread* io = nullptr, FileWrites writes = FileWrites::Buffered);
  ~SegmentOutput();  // closes the file if finish() was not reached
  SegmentOutput(const SegmentOutput&) = delete;
  SegmentOutput& operator=(const SegmentOutput&) = delete;

  // Writes [data, data + n) and queues it for hashing: the bytes must stay unchanged until
  // the returned tickets are done. `zeroPages`, if given, has one entry per page of
  // the data (n is then a multiple of the page size): true for a page of zeros, which a new
  // file leaves as a hole instead of writing it.
  Tickets append(const void* data, size_t n, const bool* zeroPages = nullptr);
  bool direct() const { return direct_; }
  // Bytes of the file left as holes so far.
  size_t holeBytes() const { return holeBytes_; }
  // Starts writeback of what is not on its way to disk yet (the file's tail), without
  // waiting: the disk works on this segment while the writer goes on with the next, and
  // finish() has little left to wait for (PendingSegments).
  void startWriteback();
  // Flushes the file to disk, closes it and describes it.
  SegmentFile finish(uintptr_t start);

 private:
  [[noreturn]] void fail(const char* what, int error) const;
  // Writes all of [p, p + n) at `offset`, or queues it on io_.
  void writeAt(const uint8_t* p, size_t n, size_t offset);

  std::string path_;
  std::string name_;
  int fd_ = -1;
  size_t bytes_ = 0;
  bool direct_ = false;
  bool fresh_ = false;           // the file was empty when opened: what is not written reads as zeros
  size_t holeBytes_ = 0;         // zero pages not written (fresh_ only)
  size_t writebackStarted_ = 0;  // bytes handed to writeback so far
  HashThread& hasher_;
  WriteThread* io_;  // null: writes in append()
  Sha256 sha_;
  uint64_t lastTicket_ = 0;  // of the last bytes queued for sha_
  uint64_t lastWrite_ = 0;   // of the last write queued on io_
};

// "cannot <what> <path>: <strerror> (errno <n>)": the message of every I/O failure.
std::string ioFailure(const char* what, const std::string& path, int error);

}  // namespace image
