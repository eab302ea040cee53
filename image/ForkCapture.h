// ForkCapture: the forking capture (CaptureMode::Fork). Capturing forks; the kernel's
// copy-on-write gives the child the memory as of the fork, and the child writes the files
// from it and exits. The parent returns at once and later reaps the child.
//
// The child of a multithreaded parent may only use what survives fork(): it makes system
// calls (open, write, fsync, read) and updates SHA-256 contexts the parent prepared, and
// allocates nothing, takes no lock, and leaves by _exit (no atexit handlers, no stdio
// flush). It reports through a pipe: a ChildReport, then each range's digest.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "image/Capture.h"
#include "image/Sha256.h"

namespace image {

class ForkCapture : public Capture {
 public:
  // Throws std::runtime_error when the child cannot be started.
  ForkCapture(const std::vector<PageRange>& ranges, const std::string& directory);
  // Kills the child if it still runs, and reaps it.
  ~ForkCapture() override;
  bool finished() override;
  PageWriteReport wait() override;

  // What the child sends before the digests.
  struct ChildReport {
    int error = 0;              // errno of the failure, 0 if none
    int failedRange = -1;       // the range whose file failed
    int failedStep = 0;         // index into kSteps of ForkCapture.cpp
    int64_t finishedNanos = 0;  // CLOCK_MONOTONIC when the last file was synced
    uint64_t privateBytes = 0;  // the child's Private_Clean + Private_Dirty at its end
  };

 private:
  [[noreturn]] void runChild(int reportFd);
  void readReport(bool block);
  void reap(bool block);

  std::vector<PageRange> ranges_;
  std::string directory_;
  std::vector<std::string> paths_;  // built before the fork: the child allocates nothing
  std::vector<std::unique_ptr<Sha256>> hashes_;
  pid_t child_ = -1;           // -1 once reaped
  int status_ = 0;             // the child's wait status once reaped
  int reportFd_ = -1;          // the pipe's reading end, until end of file
  std::string received_;       // what the child sent so far
  int64_t capturedNanos_ = 0;  // CLOCK_MONOTONIC when the fork returned
};

}  // namespace image
