// PageWriter: see PageWriter.h.
#include "image/PageWriter.h"

#include <chrono>
#include <stdexcept>

#include "image/CopyCapture.h"
#include "image/CowCapture.h"
#include "image/ForkCapture.h"
#include "space/KernelWrites.h"

namespace image {

PageWriter::PageWriter(std::vector<PageRange> ranges, CaptureMode mode, std::string directory, size_t unpacedPages)
    : ranges_(std::move(ranges)), mode_(mode), directory_(std::move(directory)), unpacedPages_(unpacedPages) {}

PageWriter::~PageWriter() = default;

void PageWriter::capture() {
  capture(nullptr);
}

void PageWriter::capture(std::unique_ptr<ArmedProtection> armed) {
  if (capture_) throw std::runtime_error("a PageWriter captures once");
  auto start = std::chrono::steady_clock::now();
  switch (mode_) {
    case CaptureMode::Cow:
      capture_ = std::make_unique<CowCapture>(ranges_, directory_, std::move(armed), unpacedPages_);
      break;
    case CaptureMode::Copy:
      capture_ = std::make_unique<CopyCapture>(ranges_, directory_);
      break;
    case CaptureMode::Fork:
      capture_ = std::make_unique<ForkCapture>(ranges_, directory_);
      break;
  }
  captureMicros_ =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
}

void PageWriter::hurry() {
  if (capture_) capture_->hurry();
}

bool PageWriter::needs(uintptr_t start, uintptr_t end) const {
  return capture_ && capture_->needs(start, end);
}

bool PageWriter::finished() {
  return !capture_ || capture_->finished();
}

PageWriteReport PageWriter::wait() {
  if (!capture_) throw std::runtime_error("PageWriter::wait before capture");
  PageWriteReport report = capture_->wait();
  report.captureMicros = captureMicros_;
  return report;
}

void PageWriter::beforeKernelWrite(void* p, size_t n) {
  space::beforeKernelWrite(p, n);
}

}  // namespace image
