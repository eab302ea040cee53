// ArmedProtection: see ArmedProtection.h.
#include "image/ArmedProtection.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "image/PageRanges.h"
#include "space/KernelWrites.h"
#include "space/ThreadName.h"

namespace image {

ArmedProtection::ArmedProtection(std::vector<PageRange> ranges, PageRange populate)
    : ranges_(normalizedRanges(std::move(ranges))) {
  descriptor_ = std::make_unique<Userfaultfd>();
  for (const PageRange& r : ranges_) descriptor_->registerRange(r);
  for (const PageRange& r : ranges_) {
    size_t pages = (r.end - r.start) / PageWriter::kPageSize;
    written_.emplace_back((pages + kBlockPages - 1) / kBlockPages, 0);
  }
  // Raised before any page is protected: beforeKernelWrite must see it first.
  space::capturesActive.fetch_add(1);
  try {
    service_ = std::thread([this] {
      space::nameThisThread("arm-faults");
      descriptor_->serve([this](uintptr_t page) { onWrite(page); });
    });
    protector_ = std::thread([this, populate] {
      space::nameThisThread("arm-protect");
      protectAll(populate);
    });
  } catch (...) {
    stopThreads();
    space::capturesActive.fetch_sub(1);
    throw;
  }
}

ArmedProtection::~ArmedProtection() {
  stopThreads();
  descriptor_.reset();  // lifts every protection
  space::capturesActive.fetch_sub(1);
}

void ArmedProtection::stopThreads() {
  stopProtecting_.store(true, std::memory_order_relaxed);
  if (protector_.joinable()) protector_.join();
  if (service_.joinable()) {
    descriptor_->stop();
    service_.join();
  }
}

void ArmedProtection::protectAll(PageRange populate) {
  auto start = std::chrono::steady_clock::now();
#ifdef MADV_POPULATE_WRITE
  if (populate.end > populate.start) {
    // Only faults the pages in (as writing each would, without changing a byte): the
    // program may be writing them meanwhile. Failure costs the pause page faults, no more.
    madvise(reinterpret_cast<void*>(populate.start), populate.end - populate.start, MADV_POPULATE_WRITE);
  }
#else
  (void)populate;
#endif
  try {
    for (const PageRange& r : ranges_) {
      for (uintptr_t a = r.start; a < r.end; a += kProtectChunkBytes) {
        if (stopProtecting_.load(std::memory_order_relaxed)) break;
        descriptor_->protect(a, std::min<uintptr_t>(kProtectChunkBytes, r.end - a));
      }
    }
  } catch (const std::exception& e) {
    failure_ = e.what();
  }
  armMicros_.store(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count(),
      std::memory_order_relaxed);
  ready_.store(true, std::memory_order_release);
}

// The service thread: a write to an armed page before the capture. Chunks are protected
// from each range's start in multiples of the block, so the block lies in the chunks
// protected so far or in the one being protected; should the protector protect part of
// it again after this lifts it, the next write there comes back here.
void ArmedProtection::onWrite(uintptr_t page) {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), page,
                             [](uintptr_t a, const PageRange& r) { return a < r.start; });
  if (it == ranges_.begin() || page >= (it - 1)->end) {
    descriptor_->unprotect(page, PageWriter::kPageSize);  // not ours: cannot happen, but never leave a writer waiting
    return;
  }
  const PageRange& r = *(it - 1);
  size_t block = (page - r.start) / (kBlockPages * PageWriter::kPageSize);
  written_[size_t(it - 1 - ranges_.begin())][block] = 1;
  uintptr_t start = r.start + block * kBlockPages * PageWriter::kPageSize;
  descriptor_->unprotect(start, std::min<uintptr_t>(kBlockPages * PageWriter::kPageSize, r.end - start));
}

ArmedProtection::Handover ArmedProtection::handOver() {
  if (!descriptor_) throw std::logic_error("ArmedProtection handed over twice");
  if (protector_.joinable()) protector_.join();  // it finishes its ranges: nothing asks it to stop
  stopThreads();
  if (!failure_.empty()) throw std::runtime_error(failure_);
  Handover h;
  h.armMicros = armMicros();
  for (size_t i = 0; i < ranges_.size(); i++) {
    const PageRange& r = ranges_[i];
    for (size_t b = 0; b < written_[i].size(); b++) {
      if (!written_[i][b]) continue;
      uintptr_t start = r.start + b * kBlockPages * PageWriter::kPageSize;
      uintptr_t end = std::min<uintptr_t>(start + kBlockPages * PageWriter::kPageSize, r.end);
      if (!h.written.empty() && h.written.back().end == start) {
        h.written.back().end = end;
      } else {
        h.written.push_back(PageRange{start, end});
      }
    }
  }
  h.armed = ranges_;
  h.descriptor = std::move(descriptor_);
  return h;
}

}  // namespace image
