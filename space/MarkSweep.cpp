// MarkSweep: iterative marking with an explicit stack, then a linear sweep that merges
// adjacent dead objects and free chunks and releases segments left empty.
#include "space/MarkSweep.h"

#include "space/Space.h"

namespace space {

void MarkSweep::visit(Oop& slot) {
  markSlot(slot);
  drain();
}

void MarkSweep::markSlot(Oop& slot) {
  Oop v = slot;
  if (!v.isHeapObject()) return;
  if (v.object()->isForwarded()) {
    v = Space::follow(v);
    slot = v;
    if (!v.isHeapObject()) return;
  }
  HeapObject* o = v.object();
  if (o->isMarked()) return;
  o->setMarked(true);
  markStack_.push_back(o);
}

void MarkSweep::drain() {
  while (!markStack_.empty()) {
    HeapObject* o = markStack_.back();
    markStack_.pop_back();
    size_t n = o->pointerSlotCount();
    Oop* slots = o->slots();
    for (size_t i = 0; i < n; i++) markSlot(slots[i]);
  }
}

void MarkSweep::run() {
  space_.visitRoots(*this);
  if (!space_.activeStack_.isNull()) visit(space_.activeStack_);
  drain();

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

  sweep();
}

void MarkSweep::addFree(uintptr_t start, size_t bytes, bool release) {
  space_.oldSpace().addFreeChunk(start, bytes);
  if (release) releaseFreePages(start, bytes);
}

void MarkSweep::releaseFreePages(uintptr_t start, size_t bytes) {
  if (bytes < releaseFreeBytes_) return;
  constexpr uintptr_t kPage = Reservation::kPageSize;
  uintptr_t from = (start + 2 * sizeof(Oop) + kPage - 1) & ~(kPage - 1);  // keep the chunk's header and link
  uintptr_t to = (start + bytes) & ~(kPage - 1);
  if (to > from) {
    space_.reservation().releasePages(from, to - from);
    releasedBytes_ += to - from;
  }
}

void MarkSweep::sweep() {
  OldSpace& old = space_.oldSpace();
  old.resetFreeLists();
  size_t live = 0;
  std::vector<size_t> emptySegments;
  // A space that keeps memory written ahead for updates (OldSpace::warmBumpArea) makes
  // the last free run that ends a segment its bump area after the sweep: that run keeps
  // its pages, the other runs ending a segment give theirs back once it is known.
  // (After resetFreeLists every segment's top is its end: a segment's last free run ends it.)
  const bool keepTail = old.keepsSpareSegment();
  std::vector<std::pair<uintptr_t, size_t>> tails;
  auto addTail = [&](uintptr_t start, size_t bytes) {
    addFree(start, bytes, !keepTail);
    if (keepTail) tails.push_back({start, bytes});
  };
  const std::vector<Segment>& segments = old.segments();
  for (size_t si = 0; si < segments.size(); si++) {
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
      emptySegments.push_back(si);
      continue;
    }
    if (freeStart != 0) addTail(freeStart, seg.top - freeStart);
    live += segmentLive;
  }
  // Keep one empty segment around to avoid thrashing between collections.
  bool keptOne = false;
  for (size_t i = emptySegments.size(); i-- > 0;) {
    size_t si = emptySegments[i];
    if (!keptOne) {
      keptOne = true;
      const Segment& seg = old.segments()[si];
      addTail(seg.start, seg.top - seg.start);
      continue;
    }
    old.releaseSegment(si);
  }
  // (The free list is last in, first out: the last tail listed is the one taken.)
  for (size_t i = 0; i + 1 < tails.size(); i++) releaseFreePages(tails[i].first, tails[i].second);
  old.setLiveBytesAfterSweep(live);
  if (live > space_.stats_.peakLiveBytes) space_.stats_.peakLiveBytes = live;
}

}  // namespace space
