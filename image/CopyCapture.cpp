// CopyCapture: see CopyCapture.h.
#include "image/CopyCapture.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "image/HashThread.h"
#include "image/PendingSegments.h"
#include "image/SegmentOutput.h"

namespace image {

namespace {

constexpr size_t kWriteBytes = 4 << 20;  // per write(2)

}  // namespace

CopyCapture::CopyCapture(const std::vector<PageRange>& ranges, const std::string& directory)
    : ranges_(ranges), directory_(directory) {
  for (const PageRange& r : ranges_) bytes_ += r.end - r.start;
  if (bytes_ > 0) {
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      throw std::runtime_error(std::string("cannot map memory for the copy: ") + std::strerror(errno));
    copy_ = static_cast<uint8_t*>(p);
  }
  size_t at = 0;
  for (const PageRange& r : ranges_) {
    std::memcpy(copy_ + at, reinterpret_cast<const void*>(r.start), r.end - r.start);
    at += r.end - r.start;
  }
  writer_ = std::make_unique<WriterThread>(
      [this](std::vector<SegmentFile>& segments, const std::atomic<bool>& stop) { writeAll(segments, stop); },
      [this] { releaseCopy(); });
}

CopyCapture::~CopyCapture() {
  writer_.reset();
  releaseCopy();
}

void CopyCapture::writeAll(std::vector<SegmentFile>& segments, const std::atomic<bool>& stop) {
  size_t at = 0;
  HashThread hasher;
  PendingSegments written(segments);  // after the hasher: its files' hashes use it
  for (size_t r = 0; r < ranges_.size(); r++) {
    size_t bytes = ranges_[r].end - ranges_[r].start;
    auto out = std::make_unique<SegmentOutput>(directory_, segmentFileName(r), bytes, hasher);
    for (size_t done = 0; done < bytes;) {
      if (stop.load(std::memory_order_relaxed)) return;
      size_t n = std::min(kWriteBytes, bytes - done);
      out->append(copy_ + at + done, n);
      done += n;
    }
    written.add(std::move(out), ranges_[r].start);
    at += bytes;
  }
  written.finishAll();
}

void CopyCapture::releaseCopy() {
  if (copy_) munmap(copy_, bytes_);
  copy_ = nullptr;
}

bool CopyCapture::finished() {
  return writer_->finished();
}

PageWriteReport CopyCapture::wait() {
  writer_->raisePriority();  // the program's thread waits for it from here on
  writer_->join();
  PageWriteReport report;
  report.mode = CaptureMode::Copy;
  report.protection = "copy";
  report.pagesWritten = bytes_ / PageWriter::kPageSize;
  report.peakExtraBytes = bytes_;
  report.bytesWritten = bytes_;
  report.writeMicros = writer_->micros();
  report.cachedMicros = report.writeMicros;  // not measured apart from the fsyncs
  report.segments = writer_->segments();
  return report;
}

}  // namespace image
