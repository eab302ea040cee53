// CowCapture: the copy-on-write capture (CaptureMode::Cow). Capturing protects every page
// (WriteProtection.h) and starts the writer, which streams each range in batches: it takes
// each page's captured contents (CapturedPages::take: the page itself, still protected, or
// the copy the fault path saved when the program wrote it first) into its buffer, writes
// the batch, and lifts the batch's protection, so later writes there cost nothing. Pages
// of private anonymous memory never touched are not read: they are zeros, left as holes
// in the files (PageResidence.h). Files are written with O_DIRECT on a WriteThread, from
// the batch buffers, while the next batch is copied (SegmentOutput.h);
// ESPELL_SNAPSHOT_WRITES=buffered writes them through the page cache instead.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "image/ArmedProtection.h"
#include "image/Capture.h"
#include "image/CapturedPages.h"
#include "image/WriteProtection.h"
#include "image/WriterThread.h"

namespace image {

class CowCapture : public Capture {
 public:
  static constexpr size_t kBatchPages = 256;  // 1 MiB: one write(2), then unprotected at once
  static constexpr size_t kBuffers = 8;       // batches in flight between copying and hashing

  // Throws std::runtime_error when the pages cannot be protected (nothing is then).
  // `armed`, if any, is protection set up ahead of the pause (ArmedProtection.h).
  CowCapture(const std::vector<PageRange>& ranges, const std::string& directory,
             std::unique_ptr<ArmedProtection> armed);
  ~CowCapture() override;
  bool finished() override;
  PageWriteReport wait() override;

 private:
  void writeAll(std::vector<SegmentFile>& segments, const std::atomic<bool>& stop);
  void stopProtecting();

  std::string directory_;
  CapturedPages pages_;
  std::unique_ptr<WriteProtection> protection_;
  std::string protectionName_;
  int64_t cachedMicros_ = 0;              // until the last write(2) returned (the writer's; read after join)
  bool directWrites_ = false;             // the files were written with O_DIRECT (the writer's; read after join)
  size_t holeBytes_ = 0;                  // pages never touched, left as holes (the writer's; read after join)
  std::unique_ptr<WriterThread> writer_;  // last: stopped and joined first
};

}  // namespace image
