// UffdProtection: see UffdProtection.h.
#include "image/UffdProtection.h"

#include <algorithm>

#include "image/PageRanges.h"
#include "space/RunAhead.h"
#include "space/ThreadName.h"

namespace image {

namespace {

std::vector<PageRange> capturedRanges(const CapturedPages& pages) {
  return normalizedRanges(pages.ranges());
}

}  // namespace

UffdProtection::UffdProtection(CapturedPages& pages)
    : pages_(pages),
      descriptor_(std::make_unique<Userfaultfd>()),
      preserved_(pages.pageCount(), "the fault path's page flags") {
  // On failure the descriptor's destructor lifts what was protected and unregisters.
  std::vector<PageRange> ranges = capturedRanges(pages_);
  for (const PageRange& r : ranges) descriptor_->registerRange(r);
  for (const PageRange& r : ranges) descriptor_->protect(r.start, r.end - r.start);
  pagesProtectedInPause_ = pages_.pageCount();
  startService();
}

UffdProtection::UffdProtection(CapturedPages& pages, std::unique_ptr<Userfaultfd> descriptor,
                               ArmedProtection::Handover armed)
    : pages_(pages), descriptor_(std::move(descriptor)), preserved_(pages.pageCount(), "the fault path's page flags") {
  PauseProtection pause = pauseProtection(capturedRanges(pages_), armed);
  // 1. Memory the ranges grew by since the arming (a new segment, a segment's top
  //    raised) is registered and protected now. 2. The blocks written while armed lost
  //    their protection: protected again.
  for (const PageRange& r : pause.grown) descriptor_->registerRange(r);
  for (const std::vector<PageRange>* parts : {&pause.grown, &pause.writtenAgain}) {
    for (const PageRange& r : *parts) descriptor_->protect(r.start, r.end - r.start);
  }
  pagesProtectedInPause_ = pause.pagesToProtect();
  // 3. Armed memory the capture does not take (a segment's top lowered) must not fault.
  for (const PageRange& r : pause.released) descriptor_->unprotect(r.start, r.end - r.start);
  armMicros_ = armed.armMicros;
  startService();
}

UffdProtection::~UffdProtection() {
  if (!finished_) finish();
}

void UffdProtection::startService() {
  service_ = std::thread([this] {
    space::nameThisThread("snap-faults");
    descriptor_->serve([this](uintptr_t page) { onWrite(page); });
  });
}

// The service thread: the program's first write to a page (or run of pages) since the capture.
void UffdProtection::onWrite(uintptr_t address) {
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
  if (sweep_.continues(range, page)) end = std::max(end, std::min(page + kBlockPages, rangeEnd));
  for (size_t p = page; p < end; p++) {
    if (p > page && pages_.shadowFull()) {
      end = p;  // a run ahead is a guess: it does not wait for room in the shadow
      break;
    }
    pages_.preserve(p);
    preserved_.data()[p] = 1;
  }
  sweep_.took(end - 1);
  descriptor_->unprotect(pages_.address(page), (end - page) * CapturedPages::kPageSize);
}

void UffdProtection::written(size_t first, size_t count) {
  descriptor_->unprotect(pages_.address(first), count * CapturedPages::kPageSize);
}

void UffdProtection::finish() {
  finished_ = true;
  if (service_.joinable()) {
    descriptor_->stop();
    service_.join();
  }
  descriptor_.reset();  // lifts the protection everywhere, unregisters, closes
}

}  // namespace image
