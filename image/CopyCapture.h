// CopyCapture: the copying capture (CaptureMode::Copy). Capturing copies every range into
// private memory; a writer thread writes the copy and gives it back. Simple and immune to
// anything the program does, at the price of a pause and a peak memory of a full copy.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "image/Capture.h"
#include "image/WriterThread.h"

namespace image {

class CopyCapture : public Capture {
 public:
  // Throws std::runtime_error when the copy's memory cannot be mapped.
  CopyCapture(const std::vector<PageRange>& ranges, const std::string& directory);
  ~CopyCapture() override;
  bool finished() override;
  PageWriteReport wait() override;

 private:
  void writeAll(std::vector<SegmentFile>& segments, const std::atomic<bool>& stop);
  void releaseCopy();

  std::vector<PageRange> ranges_;
  std::string directory_;
  uint8_t* copy_ = nullptr;  // the ranges one after another; null once written
  size_t bytes_ = 0;
  std::unique_ptr<WriterThread> writer_;  // last: stopped and joined first
};

}  // namespace image
