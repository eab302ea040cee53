// LazySweep: see LazySweep.h.
#include "space/LazySweep.h"

#include <algorithm>
#include <utility>

#include "space/Assert.h"
#include "space/MonotonicClock.h"
#include "space/Space.h"

namespace space {

namespace {
// All that old space had in use before the collection: what its live bytes are until the
// sweep has counted them (a sweep only frees).
size_t inUseBytes(const OldSpace& old) {
  return old.liveBytesAtLastSweep() + old.allocatedSinceSweep();
}
}  // namespace

LazySweep::LazySweep(Space& space, const MarkSweep& marked)
    : space_(space),
      sweeper_(marked),
      keeping_(marked.keepsNextCycle() ? space.fullCollectionThreshold(inUseBytes(space.oldSpace())) : 0) {
  OldSpace& old = space.oldSpace();
  size_t estimate = inUseBytes(old);
  old.resetFreeLists();  // closes the bump area: no segment to sweep is the bump segment
  old.setLiveBytesAfterSweep(estimate);
  const std::vector<Segment>& segments = old.segments();
  for (size_t i = segments.size(); i-- > 0;) {
    unswept_.push_back(segments[i].start);
    bytesToSweep_ += segments[i].bytes();
  }
  size_t threshold = space.fullCollectionThreshold(estimate);
  bytesPerByte_ = bytesToSweep_ / std::max<size_t>(1, threshold / 8) + 1;
  lateAt_ = threshold / 4;
  old.setSegmentSweeper(this);
}

LazySweep::~LazySweep() {
  space_.oldSpace().setSegmentSweeper(nullptr);
}

bool LazySweep::heldBack() const {
  if (done()) return false;
  uintptr_t start = unswept_.back();
  const Segment* seg = space_.oldSpace().segmentOf(start);
  return space_.pagesCaptured(start, seg != nullptr ? seg->end : start + 1);
}

bool LazySweep::sweepNextSegment() {
  if (done() || demandLeft_ == 0 || heldBack()) return false;
  demandLeft_--;
  sweepOneSegment();
  return true;
}

void LazySweep::allowDemand(int segments) {
  demandLeft_ = segments;
  longestNanos_ = std::max(longestNanos_, std::exchange(demandNanos_, 0));
}

bool LazySweep::step(size_t budgetBytes, std::chrono::steady_clock::time_point deadline) {
  auto start = std::chrono::steady_clock::now();
  stepping_ = true;
  size_t until = budgetBytes > SIZE_MAX - sweptBytes_ ? SIZE_MAX : sweptBytes_ + budgetBytes;
  while (!done() && !heldBack()) {
    sweepOneSegment();
    if (sweptBytes_ >= until || done()) break;
    // Another segment only if, swept at this sweep's pace so far, it ends by the deadline:
    // a step that began one more just before it ran over by that segment's time.
    if (std::chrono::steady_clock::now() + expectedTime(nextSegmentBytes()) >= deadline) break;
  }
  stepping_ = false;
  longestNanos_ = std::max(longestNanos_, nanosSince(start));
  return done();
}

size_t LazySweep::nextSegmentBytes() const {
  const Segment* seg = space_.oldSpace().segmentOf(unswept_.back());
  return seg != nullptr ? seg->bytes() : 0;
}

std::chrono::nanoseconds LazySweep::expectedTime(size_t segmentBytes) const {
  return std::chrono::nanoseconds(
      uint64_t(double(nanos_) / double(std::max<size_t>(1, sweptBytes_)) * double(segmentBytes)));
}

void LazySweep::sweepOneSegment() {
  auto start = std::chrono::steady_clock::now();
  OldSpace& old = space_.oldSpace();
  uintptr_t first = unswept_.back();
  unswept_.pop_back();
  const Segment* seg = old.segmentOf(first);
  ESPELL_ASSERT(seg != nullptr && seg->start == first && seg->top == seg->end,
                "a segment left to sweep was released, or became the bump segment");
  size_t index = size_t(seg - old.segments().data());
  size_t bytes = seg->bytes();
  MarkSweep::SweptPart part = sweeper_.sweepSegment(index);
  old.adoptFreeChunks(part.free);
  for (auto [runStart, runBytes] : part.large) listLargeRun(runStart, runBytes);
  if (!part.emptySegments.empty()) {
    if (keptEmptySegment_ && !space_.snapshotHoldsHeap()) {
      old.releaseSegment(index);
    } else {
      // Kept, against thrashing between collections: one free run, like any other.
      keptEmptySegment_ = true;
      auto [from, to] = OldSpace::releasablePages(first, bytes);
      if (bytes >= sweeper_.releaseFreeBytes() && to > from) {
        listLargeRun(first, bytes);
      } else {
        old.addFreeChunk(first, bytes);
      }
    }
  }
  liveBytes_ += part.liveBytes;
  sweptBytes_ += bytes;
  uint64_t ns = nanosSince(start);
  nanos_ += ns;
  if (!stepping_) {
    demandNanos_ += ns;
    longestNanos_ = std::max(longestNanos_, demandNanos_);
  }
}

void LazySweep::listLargeRun(uintptr_t start, size_t bytes) {
  OldSpace& old = space_.oldSpace();
  auto [from, to] = OldSpace::releasablePages(start, bytes);
  switch (keeping_.decide(from, to)) {
    case MarkSweep::RunKeeping::Fate::Keep:
      old.addFreeChunk(start, bytes);
      break;
    case MarkSweep::RunKeeping::Fate::KeepCold:
      old.addColdFreeChunk(start, bytes);
      break;
    case MarkSweep::RunKeeping::Fate::Release:
      old.addColdFreeChunk(start, bytes);  // its header and link stay, on the first page
      space_.reservation().releasePages(from, to - from);
      releasedBytes_ += to - from;
      break;
  }
}

}  // namespace space
