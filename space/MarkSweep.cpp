// MarkSweep: marking (space/Marker.h), then a linear sweep that merges adjacent dead
// objects and free chunks and releases segments left empty, on helper threads too when
// the space has them.
#include "space/MarkSweep.h"

#include <atomic>
#include <chrono>
#include <utility>

#include "space/CollectorThreads.h"
#include "space/MonotonicClock.h"
#include "space/Space.h"

namespace space {

bool MarkSweep::shared() const {
  return threads_ != nullptr && threads_->workers() > 1;
}

void MarkSweep::forgetDead() {
  const MarkBitmap& bits = *space_.markBits_;
  // Registered stacks are weak: forget the ones that died.
  std::vector<Oop>& stacks = space_.stacks_;
  size_t kept = 0;
  for (Oop s : stacks) {
    if (bits.isMarked(s.object())) stacks[kept++] = s;
  }
  stacks.resize(kept);
  space_.weak_.sweep([&](Oop o) { return !o.isHeapObject() || bits.isMarked(o.object()) ? o : Oop(); });
  for (WeakTable* t : space_.weakTables_)
    t->dropDead([&](Oop o) { return !o.isHeapObject() || bits.isMarked(o.object()); });
}

void MarkSweep::mark(Marker* incremental) {
  auto start = std::chrono::steady_clock::now();
  if (incremental != nullptr) {
    incremental->finish();
    // GC stress builds finish a marking every 64 allocations: checking every fourth keeps
    // their tests within their time bounds.
    if (!space_.config().gcStress || space_.stats().incrementalCollections % 4 == 0) incremental->checkComplete();
    scannedBytes_ = incremental->scannedBytes();
  } else {
    Marker marker(space_, *space_.markBits_, Marker::Mode::StopTheWorld);
    marker.greyRoots();
    marker.drain();
    scannedBytes_ = marker.scannedBytes();
  }
  forgetDead();
  markNanos_ = nanosSince(start);
}

std::vector<MarkSweep::SweptPart> MarkSweep::partsForSweep() const {
  size_t segments = space_.oldSpace().segments().size();
  if (!shared()) {
    std::vector<SweptPart> all(1);
    all[0].endSegment = segments;
    return all;
  }
  std::vector<SweptPart> parts(segments);
  for (size_t i = 0; i < segments; i++) {
    parts[i].firstSegment = i;
    parts[i].endSegment = i + 1;
  }
  return parts;
}

void MarkSweep::addFreeRun(SweptPart& part, uintptr_t start, size_t bytes) const {
  auto [from, to] = OldSpace::releasablePages(start, bytes);
  bool large = bytes >= releaseFreeBytes_ && to > from;
  if (large) part.large.push_back({start, bytes});
  if (!large || !part.largeApart) part.free.add(start, bytes);
}

MarkSweep::RunKeeping::Fate MarkSweep::RunKeeping::decide(uintptr_t from, uintptr_t to) {
  if (kept_ >= keepBytes_) return Fate::Release;
  // Only pages resident count: memory never written (the rest of a segment) or given
  // back before costs a fault when allocated either way.
  size_t resident = Reservation::residentBytes(from, to);
  kept_ += resident;
  return resident < (to - from) / 2 ? Fate::KeepCold : Fate::Keep;
}

void MarkSweep::addTail(SweptPart& part, uintptr_t start, size_t bytes, bool keepTail) const {
  addFreeRun(part, start, bytes);
  if (keepTail) part.tails.push_back({start, bytes});
}

void MarkSweep::sweepPart(SweptPart& part, bool keepTail) const {
  const std::vector<Segment>& segments = space_.oldSpace().segments();
  MarkBitmap& bits = *space_.markBits_;
  for (size_t si = part.firstSegment; si < part.endSegment; si++) {
    const Segment& seg = segments[si];
    uintptr_t freeStart = 0;
    size_t segmentLive = 0;
    for (uintptr_t p = seg.start; p < seg.top;) {
      HeapObject* o = HeapObject::fromBlockStart(p);
      size_t n = o->totalBytes();
      if (bits.isMarked(o) && o->classIndex() != reserved_class::kFreeChunk) {
        bits.unmark(o);
        if (freeStart != 0) {
          addFreeRun(part, freeStart, p - freeStart);
          freeStart = 0;
        }
        segmentLive += n;
      } else if (freeStart == 0) {
        freeStart = p;
      }
      p += n;
    }
    if (segmentLive == 0) {
      part.emptySegments.push_back(si);
      continue;
    }
    if (freeStart != 0) addTail(part, freeStart, seg.top - freeStart, keepTail);
    part.liveBytes += segmentLive;
  }
}

size_t MarkSweep::releaseLargeRuns(const std::vector<SweptPart>& parts, size_t keepBytes, bool keepTail) const {
  // The lists are last in, first out, and parts are adopted in order: allocation takes
  // the last part's runs first, the highest first.
  std::vector<std::pair<uintptr_t, size_t>> runs;
  for (size_t i = parts.size(); i-- > 0;) runs.insert(runs.end(), parts[i].large.rbegin(), parts[i].large.rend());
  uintptr_t lastTail = 0;  // with keepTail, the one allocation takes first: never released
  for (size_t i = parts.size(); keepTail && lastTail == 0 && i-- > 0;) {
    if (!parts[i].tails.empty()) lastTail = parts[i].tails.back().first;
  }
  std::vector<std::pair<uintptr_t, uintptr_t>> pages;
  std::vector<uintptr_t> cold;  // runs whose pages are mostly not resident when this is done
  size_t released = 0;
  RunKeeping keeping(keepBytes);
  for (auto [start, bytes] : runs) {
    if (start == lastTail) continue;
    auto range = OldSpace::releasablePages(start, bytes);
    switch (keeping.decide(range.first, range.second)) {
      case RunKeeping::Fate::Keep:
        break;
      case RunKeeping::Fate::KeepCold:
        cold.push_back(start);
        break;
      case RunKeeping::Fate::Release:
        pages.push_back(range);
        cold.push_back(start);
        released += range.second - range.first;
        break;
    }
  }
  // Allocation takes the runs that kept their pages first; otherwise the never-written
  // rest of the newest segment, listed first, would fault in beside them.
  space_.oldSpace().listLargeChunksLast(std::move(cold));
  Reservation& reservation = space_.reservation();
  if (shared() && pages.size() > 1) {
    std::atomic<size_t> next{0};
    threads_->run([&](unsigned) {
      for (size_t i = next++; i < pages.size(); i = next++)
        reservation.releasePages(pages[i].first, pages[i].second - pages[i].first);
    });
  } else {
    for (auto [from, to] : pages) reservation.releasePages(from, to - from);
  }
  return released;
}

void MarkSweep::sweep() {
  auto start = std::chrono::steady_clock::now();
  OldSpace& old = space_.oldSpace();
  old.resetFreeLists();
  // A space that keeps memory written ahead for updates (OldSpace::warmBumpArea) makes
  // the last free run that ends a segment its bump area after the sweep: that run keeps
  // its pages.
  // (After resetFreeLists every segment's top is its end: a segment's last free run ends it.)
  const bool keepTail = old.keepsSpareSegment();
  std::vector<SweptPart> parts = partsForSweep();
  if (shared()) {
    std::atomic<size_t> next{0};  // the next part not yet taken
    threads_->run([&](unsigned) {
      for (size_t i = next++; i < parts.size(); i = next++) sweepPart(parts[i], keepTail);
    });
  } else {
    sweepPart(parts[0], keepTail);
  }
  ESPELL_ASSERT(!space_.markBits_->anyMarked(), "a mark bit outlived the sweep");
  space_.markBits_->noteCleared();  // every marked object was unmarked as it was passed
  std::vector<size_t> emptySegments;
  for (const SweptPart& part : parts) {
    emptySegments.insert(emptySegments.end(), part.emptySegments.begin(), part.emptySegments.end());
  }
  // Keep one empty segment around to avoid thrashing between collections: the last one,
  // listed after every other part's chunks.
  if (!emptySegments.empty()) {
    const Segment& seg = old.segments()[emptySegments.back()];
    addTail(parts.emplace_back(), seg.start, seg.top - seg.start, keepTail);
    emptySegments.pop_back();
  }
  // Put together in segment order: the free lists as one thread would have listed them.
  size_t live = 0;
  for (SweptPart& part : parts) {
    old.adoptFreeChunks(part.free);
    live += part.liveBytes;
  }
  auto releaseStart = std::chrono::steady_clock::now();
  for (size_t i = emptySegments.size(); i-- > 0;)
    old.releaseSegment(emptySegments[i]);  // highest first: indexes stay valid
  releasedBytes_ += releaseLargeRuns(parts, keepNextCycle_ ? space_.fullCollectionThreshold(live) : 0, keepTail);
  releaseNanos_ = nanosSince(releaseStart);
  old.setLiveBytesAfterSweep(live);
  if (live > space_.stats_.peakLiveBytes) space_.stats_.peakLiveBytes = live;
  sweepNanos_ = nanosSince(start);
}

}  // namespace space
