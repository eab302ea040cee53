// SignalProtection: see SignalProtection.h.
#include "image/SignalProtection.h"

#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "image/PageRanges.h"
#include "space/RunAhead.h"

namespace image {

namespace {

constexpr size_t kPage = CapturedPages::kPageSize;

bool makeWritable(uintptr_t start, size_t bytes) {
  return bytes == 0 || mprotect(reinterpret_cast<void*>(start), bytes, PROT_READ | PROT_WRITE) == 0;
}

}  // namespace

SignalProtection::SignalProtection(CapturedPages& pages, size_t maxWritableRuns, Unprotected)
    : pages_(pages),
      maxWritableRuns_(maxWritableRuns),
      writableBelow_(std::make_unique<std::atomic<size_t>[]>(pages.ranges().size())),
      madeWritableAlone_(pages.pageCount(), "the fault path's page flags") {
  for (size_t r = 0; r < pages_.ranges().size(); r++) writableBelow_[r].store(pages_.firstPage(r));
  space::addWriteFaultOwner(this);
  registered_ = true;
}

SignalProtection::SignalProtection(CapturedPages& pages, size_t maxWritableRuns)
    : SignalProtection(pages, maxWritableRuns, Unprotected{}) {
  for (const PageRange& r : pages_.ranges()) {
    if (r.end > r.start && mprotect(reinterpret_cast<void*>(r.start), r.end - r.start, PROT_READ) != 0) {
      int error = errno;
      finish();
      throw std::runtime_error(std::string("cannot write-protect pages: ") + std::strerror(error));
    }
  }
  pagesProtectedInPause_ = pages_.pageCount();
}

SignalProtection::SignalProtection(CapturedPages& pages, ArmedProtection::Handover armed, size_t maxWritableRuns)
    : SignalProtection(pages, maxWritableRuns, Unprotected{}) {
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
    bool alone = false;
    size_t end = runEnd(range, page);
    Neighbours next = neighboursOf(range, page, end);
    if (next.below || next.above || writableRuns_.load(std::memory_order_relaxed) < int64_t(maxWritableRuns_)) {
      for (size_t p = page; p < end; p++) {
        if (p > page && pages_.shadowFull()) {
          end = p;  // a run ahead is a guess: it does not wait for room in the shadow
          break;
        }
        pages_.preserve(p);
      }
      // Marked before the split, so that the writer's batch that merges it unmarks it.
      markWritableAlone(range, page, end);
      sweep_.took(end - 1);
      alone = makeWritable(pages_.address(page), (end - page) * kPage);  // fails when the kernel refuses a mapping
    }
    if (!alone) waitForWriter(page, range);
  }
  handlersRunning_.fetch_sub(1, std::memory_order_release);
  // Past finish() the page is writable again: the write is retried.
  return page != CapturedPages::kNone;
}

// The page alone, or as many pages ahead as a run upwards has made writable alone behind
// it (space/RunAhead.h), up to a block, or in a dense sweep a block (DenseSweep.h);
// stopping short of pages made writable alone since.
size_t SignalProtection::runEnd(size_t range, size_t page) {
  size_t rangeFirst = pages_.firstPage(range);
  size_t rangeEnd = rangeFirst + pages_.pagesOf(range);
  size_t end = page + space::pagesToTake(madeWritableAlone_.data(), rangeFirst, page, rangeEnd, kRunAheadPages);
  if (sweep_.continues(range, page)) end = std::max(end, std::min(page + kRunAheadPages, rangeEnd));
  for (size_t p = page + 1; p < end; p++) {
    if (writableAlone(p)) return p;
  }
  return end;
}

// Whether pages just below and just above [first, end) of `range` are writable alone.
SignalProtection::Neighbours SignalProtection::neighboursOf(size_t range, size_t first, size_t end) const {
  size_t rangeFirst = pages_.firstPage(range);
  size_t rangeEnd = rangeFirst + pages_.pagesOf(range);
  return {first > rangeFirst && writableAlone(first - 1), end < rangeEnd && writableAlone(end)};
}

// Pages [first, end) of `range`, none writable alone yet, become so: a run of its own is
// one run more, one that joins a run below or above adds none, one that joins both one less.
void SignalProtection::markWritableAlone(size_t range, size_t first, size_t end) {
  Neighbours next = neighboursOf(range, first, end);
  for (size_t p = first; p < end; p++)
    std::atomic_ref<uint8_t>(madeWritableAlone_.data()[p]).store(1, std::memory_order_relaxed);
  writableRuns_.fetch_add((next.below ? 0 : 1) - (next.above ? 1 : 0), std::memory_order_relaxed);
}

// Waits until the writer has written the page and lifted its batch's protection (or
// stopped). The faulting write is then retried and succeeds.
void SignalProtection::waitForWriter(size_t page, size_t range) {
  writesWaited_.fetch_add(1, std::memory_order_relaxed);
  writesWaiting_.fetch_add(1, std::memory_order_relaxed);
  timespec pause = {0, 50000};
  while (!finished_.load(std::memory_order_acquire) && writableBelow_[range].load(std::memory_order_acquire) <= page) {
    nanosleep(&pause, nullptr);
  }
  writesWaiting_.fetch_sub(1, std::memory_order_relaxed);
}

void SignalProtection::written(size_t first, size_t count) {
  makeWritable(pages_.address(first), count * kPage);
  size_t range = 0;
  pages_.pageAt(pages_.address(first), &range);
  // The runs of pages writable alone that started in the batch merge into what the writer
  // has written, except one that goes on above it: the rest of that one stays a run.
  size_t started = 0;
  bool previous = false;
  for (size_t p = first; p < first + count; p++) {
    bool alone = std::atomic_ref<uint8_t>(madeWritableAlone_.data()[p]).exchange(0, std::memory_order_relaxed);
    started += alone && !previous;
    previous = alone;
  }
  size_t above = first + count;
  bool goesOn = previous && above < pages_.firstPage(range) + pages_.pagesOf(range) && writableAlone(above);
  writableRuns_.fetch_sub(int64_t(started) - (goesOn ? 1 : 0), std::memory_order_relaxed);
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
