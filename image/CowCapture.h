// CowCapture: the copy-on-write capture (CaptureMode::Cow). Capturing protects every page
// (WriteProtection.h) and starts the writer, which streams each range in batches: it takes
// each page's captured contents (CapturedPages::take: the page itself, still protected, or
// the copy the fault path saved when the program wrote it first) into its buffer, writes
// the batch, and lifts the batch's protection, so later writes there cost nothing. Pages
// of private anonymous memory never touched are not read: they are zeros, left as holes
// in the files (PageResidence.h). Files are written with O_DIRECT on a WriteThread, from
// the batch buffers, while the next batch is copied (SegmentOutput.h);
// ESPELL_SNAPSHOT_WRITES=buffered writes them through the page cache instead. While the
// program is busy the writer holds a rate (WritePacing.h).
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "image/ArmedProtection.h"
#include "image/Capture.h"
#include "image/CapturedPages.h"
#include "image/ProgramActivity.h"
#include "image/SpillFile.h"
#include "image/WritePacing.h"
#include "image/WriteProtection.h"
#include "image/WriterThread.h"

namespace image {

class CowCapture : public Capture {
 public:
  // Batches in flight between copying, hashing and writing: each is one write(2), then
  // unprotected at once. The buffers are memory the snapshot costs beyond the heap, so a
  // capture of `pages` pages gets at most 1/128 of its size in buffers (0.8%): batches of
  // 1 MiB, two to eight of them, or, below 256 MiB, two smaller batches (not below 512
  // KiB: under load, 256 KiB batches wrote a fifth slower, and the guest's writes saved
  // up to five times the pages meanwhile). Eight 1 MiB buffers were the whole of the extra
  // memory of the benchmark's 256 MiB (2.3-2.5% of the heap) and 64 MiB (7.5-8.4%)
  // snapshots, and two wrote as fast.
  static constexpr size_t kMaxBatchPages = 256;
  static constexpr size_t kMinBatchPages = 128;
  static constexpr size_t kMinBuffers = 2;  // one filled while the other is hashed and written
  static constexpr size_t kMaxBuffers = 8;
  struct Batches {
    size_t pages;    // per batch
    size_t buffers;  // batches in flight
  };
  static Batches batchesFor(size_t pages);
  // Saved copies the writer lets pile up in memory before it spills those ahead of it to
  // a SpillFile: 1/256 of the capture (0.4%), from 64 pages to 256 (1 MiB). A writer that
  // keeps up never spills; one that runs slowly keeps the extra memory near its buffers
  // whatever the snapshot's duration. (A fixed 1 MiB was, with the buffers, 1.3-2.0% of a
  // 120 MiB heap under load: the program saves more pages between two checks.) The shadow
  // is bounded at twice this (CapturedPages::boundShadow): a program that saves faster than
  // a writer without a core spills waits for it there, so the extra memory stays at the
  // buffers plus 2/256 of the capture (0.8%; 64 pages at least), bursts included.
  // (A burst of a scavenge's promotions saved 2,592 pages of a 121 MiB heap, 2.35% with
  // the buffers, before the writer got a core to spill them.)
  static constexpr size_t kMinSpillAtPages = 64;
  static constexpr size_t kMaxSpillAtPages = 256;
  static size_t spillAtPages(size_t pages) { return std::clamp(pages / 256, kMinSpillAtPages, kMaxSpillAtPages); }
  // Tests: while set, a writer waits before its first batch (a writer far behind the
  // program, made deterministic).
  static inline std::atomic<bool> holdWritersForTests{false};

  // Made on the program's thread, in its pause: that thread's activity paces the writer.
  // Throws std::runtime_error when the pages cannot be protected (nothing is then).
  // `armed`, if any, is protection set up ahead of the pause (ArmedProtection.h). The
  // first `unpacedPages` pages of the ranges are written as fast as the disk takes,
  // whatever the program's activity, and at the program's priority (see PageWriter: a
  // space's nursery; BackgroundPriority.h); the writer's threads go to the background after.
  CowCapture(const std::vector<PageRange>& ranges, const std::string& directory, std::unique_ptr<ArmedProtection> armed,
             size_t unpacedPages = 0);
  ~CowCapture() override;
  bool finished() override;
  PageWriteReport wait() override;
  void hurry() override { hurry_.store(true); }
  // Pages are taken in the order of the ranges: those before the writer's front are
  // written and writable, and every page once the writer has ended, however it ended.
  bool needs(uintptr_t start, uintptr_t end) const override;

 private:
  void writeAll(std::vector<SegmentFile>& segments, const std::atomic<bool>& stop);
  // Moves the saved copies of pages at or after `from` to the spill file (opened at the
  // first call), giving their memory back. A spill file that cannot be made or written
  // turns spilling off: the copies then stay in memory, as without it.
  void spillFrom(size_t from);
  // After a batch of `bytes`: waits while the program is busy and the writer is ahead of
  // the busy rate, spilling meanwhile once the saved copies reach `spillAt` (`nextPage`:
  // the first page not written yet). Anyone waiting for the writer (hurry_) or a stop
  // ends the wait at once.
  void pace(WritePacing& pacing, size_t bytes, size_t nextPage, size_t spillAt, const std::atomic<bool>& stop);
  void stopProtecting();

  std::string directory_;
  size_t unpacedPages_ = 0;  // see the constructor
  CapturedPages pages_;
  std::unique_ptr<WriteProtection> protection_;
  std::string protectionName_;
  int64_t cachedMicros_ = 0;   // until the last write(2) returned (the writer's; read after join)
  bool directWrites_ = false;  // the files were written with O_DIRECT (the writer's; read after join)
  size_t holeBytes_ = 0;       // pages never touched, left as holes (the writer's; read after join)
  // The writer's: the spill file and, for each page spilled and not yet read back, its
  // slot there.
  std::unique_ptr<SpillFile> spill_;
  bool spillOff_ = false;
  std::unordered_map<size_t, size_t> spillSlot_;
  size_t pagesSpilled_ = 0;
  ProgramActivity programActivity_;  // the writer's, once made (on the program's thread)
  int64_t pacedMicros_ = 0;          // the writer's: time waited in pace() (read after join)
  // Set by wait() and hurry(): whoever waits for the writer (finish(), a full collection
  // through Space::holdPages), or will soon (a full collection owed), is not kept waiting
  // by the pacing.
  std::atomic<bool> hurry_{false};
  // The writer's front: every page numbered below it is written and writable again.
  std::atomic<size_t> pagesTaken_{0};
  std::unique_ptr<WriterThread> writer_;  // last: stopped and joined first
};

}  // namespace image
