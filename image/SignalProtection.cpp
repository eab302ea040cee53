// SignalProtection: see SignalProtection.h.
#include "image/SignalProtection.h"

#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "image/PageRanges.h"

namespace image {

namespace {

constexpr size_t kPage = CapturedPages::kPageSize;

bool makeWritable(uintptr_t start, size_t bytes) {
  return bytes == 0 || mprotect(reinterpret_cast<void*>(start), bytes, PROT_READ | PROT_WRITE) == 0;
}

}  // namespace

SignalProtection::SignalProtection(CapturedPages& pages, size_t maxScatteredPages, Unprotected)
    : pages_(pages),
      maxScatteredPages_(maxScatteredPages),
      writableBelow_(std::make_unique<std::atomic<size_t>[]>(pages.ranges().size())),
      madeWritableAlone_(pages.pageCount(), "the fault path's page flags") {
  for (size_t r = 0; r < pages_.ranges().size(); r++) writableBelow_[r].store(pages_.firstPage(r));
  space::addWriteFaultOwner(this);
  registered_ = true;
}

SignalProtection::SignalProtection(CapturedPages& pages, size_t maxScatteredPages)
    : SignalProtection(pages, maxScatteredPages, Unprotected{}) {
  for (const PageRange& r : pages_.ranges()) {
    if (r.end > r.start && mprotect(reinterpret_cast<void*>(r.start), r.end - r.start, PROT_READ) != 0) {
      int error = errno;
      finish();
      throw std::runtime_error(std::string("cannot write-protect pages: ") + std::strerror(error));
    }
  }
  pagesProtectedInPause_ = pages_.pageCount();
}

SignalProtection::SignalProtection(CapturedPages& pages, ArmedProtection::Handover armed, size_t maxScatteredPages)
    : SignalProtection(pages, maxScatteredPages, Unprotected{}) {
  PauseProtection pause = pauseProtection(normalizedRanges(pages_.ranges()), armed);
  for (const std::vector<PageRange>* parts : {&pause.grown, &pause.writtenAgain}) {
    for (const PageRange& r : *parts) {
      if (mprotect(reinterpret_cast<void*>(r.start), r.end - r.start, PROT_READ) != 0) {
        int error = errno;
        finish();
        for (const PageRange& a : armed.armed) makeWritable(a.start, a.end - a.start);
        throw std::runtime_error(std::string("cannot write-protect pages: ") + std::strerror(error));
      }
    }
  }
  for (const PageRange& r : pause.released) makeWritable(r.start, r.end - r.start);
  pagesProtectedInPause_ = pause.pagesToProtect();
  armMicros_ = armed.armMicros;
}

SignalProtection::~SignalProtection() {
  if (registered_) finish();
}

bool SignalProtection::handleWriteFault(uintptr_t address) {
  handlersRunning_.fetch_add(1, std::memory_order_acquire);
  size_t range = 0;
  size_t page = pages_.pageAt(address, &range);
  if (page != CapturedPages::kNone && !finished_.load(std::memory_order_acquire)) {
    uintptr_t start = address & ~uintptr_t(kPage - 1);
    bool alone = false;
    if (scattered_.load(std::memory_order_relaxed) < maxScatteredPages_) {
      pages_.preserve(page);
      // Counted before the split, so the writer's batch that merges it uncounts it.
      std::atomic_ref<uint8_t>(madeWritableAlone_.data()[page]).store(1, std::memory_order_relaxed);
      scattered_.fetch_add(1, std::memory_order_relaxed);
      alone = makeWritable(start, kPage);  // fails when the kernel refuses another mapping
    }
    if (!alone) waitForWriter(page, range);
  }
  handlersRunning_.fetch_sub(1, std::memory_order_release);
  // Past finish() the page is writable again: the write is retried.
  return page != CapturedPages::kNone;
}

// Waits until the writer has written the page and lifted its batch's protection (or
// stopped). The faulting write is then retried and succeeds.
void SignalProtection::waitForWriter(size_t page, size_t range) {
  timespec pause = {0, 50000};
  while (!finished_.load(std::memory_order_acquire) && writableBelow_[range].load(std::memory_order_acquire) <= page) {
    nanosleep(&pause, nullptr);
  }
}

void SignalProtection::written(size_t first, size_t count) {
  makeWritable(pages_.address(first), count * kPage);
  size_t merged = 0;
  for (size_t p = first; p < first + count; p++) {
    if (std::atomic_ref<uint8_t>(madeWritableAlone_.data()[p]).exchange(0, std::memory_order_relaxed)) merged++;
  }
  scattered_.fetch_sub(merged, std::memory_order_relaxed);
  size_t range = 0;
  pages_.pageAt(pages_.address(first), &range);
  writableBelow_[range].store(first + count, std::memory_order_release);
}

void SignalProtection::finish() {
  for (const PageRange& r : pages_.ranges()) makeWritable(r.start, r.end - r.start);
  finished_.store(true, std::memory_order_release);
  if (!registered_) return;
  space::removeWriteFaultOwner(this);
  registered_ = false;
  // A handler that found us before removal may still be running; it ends soon, since every
  // page is writable and finished_ is set. (One that loaded our address from the owner
  // table but has not entered handleWriteFault yet is a window of a few instructions.)
  while (handlersRunning_.load(std::memory_order_acquire) != 0) sched_yield();
}

}  // namespace image
