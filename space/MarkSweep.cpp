// MarkSweep: iterative marking with an explicit stack, then a linear sweep that merges
// adjacent dead objects and free chunks and releases segments left empty, on helper
// threads too when the space has them.
#include "space/MarkSweep.h"

#include <atomic>
#include <chrono>

#include "space/CollectorThreads.h"
#include "space/Space.h"

namespace space {

namespace {
uint64_t nanosSince(std::chrono::steady_clock::time_point start) {
  return uint64_t(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
}
}  // namespace

bool MarkSweep::shared() const {
  return threads_ != nullptr && threads_->workers() > 1;
}

void MarkSweep::visit(Oop& slot) {
  markSlot(slot);
  drain();
}

void MarkSweep::markSlot(Oop& slot) {
  Oop v = slot;
  if (!v.isHeapObject()) return;
  __builtin_prefetch(v.object(), 1);
  Oop* oldest = queued_[queueNext_];
  queued_[queueNext_] = &slot;
  queueNext_ = (queueNext_ + 1) % kPrefetchDistance;
  if (oldest != nullptr) markNow(*oldest);
}

void MarkSweep::markNow(Oop& slot) {
  Oop v = slot;
  if (v.object()->isForwarded()) {
    v = Space::follow(v);
    slot = v;
    if (!v.isHeapObject()) return;
  }
  HeapObject* o = v.object();
  if (o->isMarked()) return;
  o->setMarked(true);
  // An object without references (bytes, words) has nothing to scan.
  if (o->pointerSlotCount() != 0) markStack_.push_back(o);
}

void MarkSweep::drain() {
  for (;;) {
    while (!markStack_.empty()) {
      HeapObject* o = markStack_.back();
      markStack_.pop_back();
      size_t n = o->pointerSlotCount();
      Oop* slots = o->slots();
      for (size_t i = 0; i < n; i++) markSlot(slots[i]);
    }
    // The stack is empty: mark the queued slots, oldest first, until one gives it work.
    size_t place = queueNext_;
    for (size_t k = 0; k < kPrefetchDistance && markStack_.empty(); k++, place = (place + 1) % kPrefetchDistance) {
      if (Oop* slot = queued_[place]) {
        queued_[place] = nullptr;
        markNow(*slot);
      }
    }
    if (markStack_.empty()) return;  // and the queue too: the loop above went round it
  }
}

void MarkSweep::forgetDead() {
  // Registered stacks are weak: forget the ones that died.
  std::vector<Oop>& stacks = space_.stacks_;
  size_t kept = 0;
  for (Oop s : stacks) {
    if (s.object()->isMarked()) stacks[kept++] = s;
  }
  stacks.resize(kept);
  space_.weak_.sweep([](Oop o) { return !o.isHeapObject() || o.object()->isMarked() ? o : Oop(); });
  for (WeakTable* t : space_.weakTables_)
    t->dropDead([](Oop o) { return !o.isHeapObject() || o.object()->isMarked(); });
}

void MarkSweep::run() {
  auto start = std::chrono::steady_clock::now();
  space_.visitRoots(*this);
  if (!space_.activeStack_.isNull()) visit(space_.activeStack_);
  drain();
  forgetDead();
  markNanos_ = nanosSince(start);
  start = std::chrono::steady_clock::now();
  sweep();
  sweepNanos_ = nanosSince(start);
}

void MarkSweep::releaseFreePages(uintptr_t start, size_t bytes, size_t& released) const {
  if (bytes < releaseFreeBytes_) return;
  constexpr uintptr_t kPage = Reservation::kPageSize;
  uintptr_t from = (start + 2 * sizeof(Oop) + kPage - 1) & ~(kPage - 1);  // keep the chunk's header and link
  uintptr_t to = (start + bytes) & ~(kPage - 1);
  if (to > from) {
    space_.reservation().releasePages(from, to - from);
    released += to - from;
  }
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

void MarkSweep::addTail(SweptPart& part, uintptr_t start, size_t bytes, bool keepTail) const {
  part.free.add(start, bytes);
  if (keepTail) {
    part.tails.push_back({start, bytes});
  } else {
    releaseFreePages(start, bytes, part.releasedBytes);
  }
}

void MarkSweep::sweepPart(SweptPart& part, bool keepTail) const {
  const std::vector<Segment>& segments = space_.oldSpace().segments();
  auto addFree = [&](uintptr_t start, size_t bytes) {
    part.free.add(start, bytes);
    releaseFreePages(start, bytes, part.releasedBytes);
  };
  for (size_t si = part.firstSegment; si < part.endSegment; si++) {
    const Segment& seg = segments[si];
    uintptr_t freeStart = 0;
    size_t segmentLive = 0;
    for (uintptr_t p = seg.start; p < seg.top;) {
      HeapObject* o = HeapObject::fromBlockStart(p);
      size_t n = o->totalBytes();
      if (o->isMarked() && o->classIndex() != reserved_class::kFreeChunk) {
        o->setMarked(false);
        if (freeStart != 0) {
          addFree(freeStart, p - freeStart);
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

void MarkSweep::sweep() {
  OldSpace& old = space_.oldSpace();
  old.resetFreeLists();
  // A space that keeps memory written ahead for updates (OldSpace::warmBumpArea) makes
  // the last free run that ends a segment its bump area after the sweep: that run keeps
  // its pages, the other runs ending a segment give theirs back once it is known.
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
  std::vector<std::pair<uintptr_t, size_t>> tails;
  for (SweptPart& part : parts) {
    old.adoptFreeChunks(part.free);
    live += part.liveBytes;
    releasedBytes_ += part.releasedBytes;
    tails.insert(tails.end(), part.tails.begin(), part.tails.end());
  }
  for (size_t i = emptySegments.size(); i-- > 0;)
    old.releaseSegment(emptySegments[i]);  // highest first: indexes stay valid
  // (The free list is last in, first out: the last tail listed is the one taken.)
  for (size_t i = 0; i + 1 < tails.size(); i++) releaseFreePages(tails[i].first, tails[i].second, releasedBytes_);
  old.setLiveBytesAfterSweep(live);
  if (live > space_.stats_.peakLiveBytes) space_.stats_.peakLiveBytes = live;
}

}  // namespace space
