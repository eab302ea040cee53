// UffdProtection: see UffdProtection.h.
#include "image/UffdProtection.h"

#include <algorithm>

#include "image/PageRanges.h"
#include "space/RunAhead.h"

namespace image {

namespace {

std::vector<PageRange> capturedRanges(const CapturedPages& pages) {
  return normalizedRanges(pages.ranges());
}

// Each UFFDIO_WRITEPROTECT call ends with a TLB flush, which on a virtual machine costs
// about 100 us — as much as walking some 400 pages that are protected already. So blocks
// written close together in one armed range are protected again in one call, the pages
// between them included (still protected since the arming: protecting them changes nothing).
constexpr size_t kCoalesceGapBytes = size_t(1) << 20;

std::vector<PageRange> coalesced(const std::vector<PageRange>& written, const std::vector<PageRange>& armed) {
  std::vector<PageRange> out;
  size_t a = 0;
  size_t lastArmed = SIZE_MAX;  // the armed range holding out.back()
  for (const PageRange& w : written) {
    while (a < armed.size() && armed[a].end <= w.start) a++;
    bool inArmed = a < armed.size() && armed[a].start <= w.start && w.end <= armed[a].end;
    if (inArmed && !out.empty() && lastArmed == a && w.start - out.back().end <= kCoalesceGapBytes) {
      out.back().end = w.end;
    } else {
      out.push_back(w);
      lastArmed = inArmed ? a : SIZE_MAX;
    }
  }
  return out;
}

}  // namespace

UffdProtection::UffdProtection(CapturedPages& pages)
    : pages_(pages),
      descriptor_(std::make_unique<Userfaultfd>()),
      preserved_(pages.pageCount(), "the fault path's page flags") {
  // On failure the descriptor's destructor lifts what was protected and unregisters.
  descriptor_->setHandler(this);
  std::vector<PageRange> ranges = capturedRanges(pages_);
  for (const PageRange& r : ranges) descriptor_->registerRange(r);
  for (const PageRange& r : ranges) descriptor_->protect(r.start, r.end - r.start);
  pagesProtectedInPause_ = pages_.pageCount();
}

UffdProtection::UffdProtection(CapturedPages& pages, ArmedProtection::Handover armed)
    : pages_(pages),
      descriptor_(std::move(armed.descriptor)),
      preserved_(pages.pageCount(), "the fault path's page flags") {
  descriptor_->setHandler(this);  // the armed protection's faults are ours from here on
  std::vector<PageRange> ranges = capturedRanges(pages_);
  // 1. Memory the ranges grew by since the arming (a new segment, a segment's top
  //    raised) is registered and protected now.
  for (const PageRange& r : rangesMinus(ranges, normalizedRanges(descriptor_->registered()))) {
    descriptor_->registerRange(r);
  }
  auto protect = [this](const std::vector<PageRange>& parts) {
    for (const PageRange& r : parts) {
      descriptor_->protect(r.start, r.end - r.start);
      pagesProtectedInPause_ += (r.end - r.start) / CapturedPages::kPageSize;
    }
  };
  protect(rangesMinus(ranges, armed.armed));
  // 2. The blocks written while armed lost their protection: protected again.
  protect(rangesIntersection(coalesced(armed.written, armed.armed), ranges));
  // 3. Armed memory the capture does not take (a segment's top lowered) must not fault.
  for (const PageRange& r : rangesMinus(armed.armed, ranges)) descriptor_->unprotect(r.start, r.end - r.start);
  armMicros_ = armed.armMicros;
}

UffdProtection::~UffdProtection() {
  if (!finished_) finish();
}

// A fault handler on the writing thread: the program's first write to a page (or run of
// pages) since the capture.
void UffdProtection::onWriteFault(uintptr_t address) {
  size_t range = 0;
  size_t page = pages_.pageAt(address, &range);
  if (page == CapturedPages::kNone) {
    descriptor_->unprotect(address, CapturedPages::kPageSize);
    return;
  }
  // Its own page, or a run's pages ahead within the page's range (RunAhead.h), or in a
  // dense sweep a block.
  size_t rangeFirst = pages_.firstPage(range);
  size_t rangeEnd = rangeFirst + pages_.pagesOf(range);
  size_t end = page + space::pagesToTake(preserved_.data(), rangeFirst, page, rangeEnd, kBlockPages);
  if (continuesSweep(range, page)) end = std::max(end, std::min(page + kBlockPages, rangeEnd));
  for (size_t p = page; p < end; p++) {
    if (p > page && pages_.shadowFull()) {
      end = p;  // a run ahead is a guess: it does not wait for room in the shadow
      break;
    }
    pages_.preserve(p);
    std::atomic_ref<uint8_t>(preserved_.data()[p]).store(1, std::memory_order_relaxed);
  }
  sweepLastPage_.store(end - 1, std::memory_order_relaxed);
  descriptor_->unprotect(pages_.address(page), (end - page) * CapturedPages::kPageSize);
}

// Counts the faults of a dense sweep in `range`: one within kSweepGapPages of the last
// fault's pages counts, one just above them (a run, RunAhead.h) leaves the count as it
// is, any other ends the sweep.
bool UffdProtection::continuesSweep(size_t range, size_t page) {
  constexpr auto relaxed = std::memory_order_relaxed;
  size_t last = sweepLastPage_.load(relaxed);
  if (sweepRange_.exchange(range, relaxed) != range) {
    sweepFaults_.store(0, relaxed);
  } else if (page != last + 1) {
    size_t distance = page > last ? page - last : last - page;
    if (distance <= kSweepGapPages) {
      sweepFaults_.fetch_add(1, relaxed);
    } else {
      sweepFaults_.store(0, relaxed);
    }
  }
  return sweepFaults_.load(relaxed) >= kSweepFaults;
}

void UffdProtection::written(size_t first, size_t count) {
  descriptor_->unprotect(pages_.address(first), count * CapturedPages::kPageSize);
}

void UffdProtection::finish() {
  finished_ = true;
  // Lifts the protection everywhere, waits for the fault handlers running (they use
  // descriptor_), unregisters, closes.
  descriptor_->close();
  descriptor_.reset();
}

}  // namespace image
