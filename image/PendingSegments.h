// PendingSegments: the segment files a writer thread has written but not yet made
// durable, in the order written. Each one's writeback starts as it is handed over, and a
// thread of its own finishes them (fsync, close, checksum) in that order while the writer
// goes on. An fsync here commits the file system's journal: 5-6.5 ms per 8 MiB old-space
// segment on this machine kind, 0.8-1 s of a 1.3 GiB snapshot's 2 s when the writer made
// them itself (timers in the writer; see docs/PERFORMANCE.md). The image stays
// crash-safe: the manifest is written only after finishAll(), as before.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "image/PageWriter.h"
#include "image/SegmentOutput.h"

namespace image {

class PendingSegments {
 public:
  // Bounds the open files (a guest's own sockets share the descriptor limit) and the
  // dirty bytes waiting for the disk: add() waits while this many are not finished.
  static constexpr size_t kMaxPending = 8;
  // Finished segments are appended to `done`, in the order handed over; read it after
  // finishAll().
  explicit PendingSegments(std::vector<SegmentFile>& done);
  // Without finishAll() (a writer that stopped), the files not finished yet are closed
  // unsynced.
  ~PendingSegments();
  PendingSegments(const PendingSegments&) = delete;
  PendingSegments& operator=(const PendingSegments&) = delete;

  // Takes `out` (every byte appended), the segment that starts at `start`, and starts its
  // writeback; waits while kMaxPending others are still to be finished. Throws
  // std::runtime_error if finishing an earlier one failed.
  void add(std::unique_ptr<SegmentOutput> out, uintptr_t start);
  // Waits until every segment handed over is finished. Throws std::runtime_error with
  // the first failure's message.
  void finishAll();

 private:
  void run();
  void throwIfFailed();  // with mutex_ held

  std::vector<SegmentFile>& done_;
  std::mutex mutex_;
  std::condition_variable changed_;  // a segment was handed over or finished, or stop_ was set
  // Handed over and not finished, oldest first; the thread finishes the front one
  // outside the lock and only then pops it.
  std::deque<std::pair<std::unique_ptr<SegmentOutput>, uintptr_t>> pending_;
  std::string failure_;  // the first finish() that failed; nothing is finished after it
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above is ready
};

}  // namespace image
