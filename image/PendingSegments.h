// PendingSegments: the segment files a writer thread has written but not yet made
// durable, in the order written. Each one's writeback starts as it is handed over, and
// its fsync waits until kMaxPending newer ones are written (or the end): the disk writes a
// segment while the writer fills the next, where finishing each segment before starting
// the next made the writer wait for every segment's disk writes in turn (an old-space
// segment is 8 MiB: 20 ms on a disk writing 400 MB/s). The image stays crash-safe: the
// manifest is written only after finishAll(), as before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "image/PageWriter.h"
#include "image/SegmentOutput.h"

namespace image {

class PendingSegments {
 public:
  // Bounds the open files (a guest's own sockets share the descriptor limit) and the
  // dirty bytes waiting for the disk.
  static constexpr size_t kMaxPending = 8;

  // Finished segments are appended to `done`, in the order handed over.
  explicit PendingSegments(std::vector<SegmentFile>& done) : done_(done) {}
  // Destroying it without finishAll() closes the files unsynced (a writer that stopped).
  ~PendingSegments() = default;
  PendingSegments(const PendingSegments&) = delete;
  PendingSegments& operator=(const PendingSegments&) = delete;

  // Takes `out` (every byte appended), the segment that starts at `start`, and starts its
  // writeback; finishes the oldest ones beyond kMaxPending.
  void add(std::unique_ptr<SegmentOutput> out, uintptr_t start);
  // Finishes (fsyncs) every segment still pending, oldest first.
  void finishAll();

 private:
  std::vector<SegmentFile>& done_;
  std::deque<std::pair<std::unique_ptr<SegmentOutput>, uintptr_t>> pending_;  // oldest first
};

}  // namespace image
