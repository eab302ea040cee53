// SpaceImage: see SpaceImage.h.
#include "space/SpaceImage.h"

#include <stdexcept>

#include "space/HeapObject.h"
#include "space/Scavenger.h"
#include "space/Space.h"

namespace space {

SpaceImageState SpaceImage::capture(Space& space) {
  if (space.collecting_) throw std::logic_error("an image of a space during a collection");
  space.collecting_ = true;
  try {
    Scavenger(space, TenureAll::Yes).run();
  } catch (...) {
    space.collecting_ = false;
    throw;
  }
  space.rememberedSet_.clear();  // nothing is young any more
  space.collecting_ = false;
  space.afterCollection();
  space.oldSpace_->makeWalkable();

  SpaceImageState s;
  s.reservationBase = space.reservation_->base();
  s.reservationBytes = space.reservation_->size();
  s.oldSpace = space.oldSpace_->state();
  s.stacks = space.stacks_;
  s.specialObjects = space.specialObjects_;
  s.hashSeed = space.hashSeed_;
  s.nextFreeClassIndex = space.classTable_.nextFreeIndex();
  s.arrayClassIndex = space.arrayClassIndex_;
  s.symbolClassIndex = space.symbols_.symbolClassIndex();
  return s;
}

std::vector<MemoryRange> SpaceImage::pages(const SpaceImageState& state) {
  std::vector<MemoryRange> ranges;
  const OldSpace::State& o = state.oldSpace;
  for (size_t i = 0; i < o.segments.size(); i++) {
    const Segment& s = o.segments[i];
    uintptr_t top = i == o.bumpSegment ? o.bumpTop : s.top;
    uintptr_t end = std::min(s.end, Reservation::roundUpToPage(top));
    if (end > s.start) ranges.push_back(MemoryRange{s.start, end});
  }
  return ranges;
}

namespace {

// Moves a heap reference into the new reservation; immediates and nulls stay.
struct Mover {
  uintptr_t oldBase, oldEnd;
  intptr_t delta;
  bool inOld(uintptr_t a) const { return a >= oldBase && a < oldEnd; }
  uintptr_t address(uintptr_t a) const { return a != 0 && inOld(a) ? uintptr_t(intptr_t(a) + delta) : a; }
  Oop oop(Oop o) const {
    if (!o.isHeapObject() || o.isNull() || !inOld(o.address())) return o;
    return Oop::fromObject(reinterpret_cast<const void*>(intptr_t(o.address()) + delta));
  }
};

}  // namespace

size_t SpaceImage::relocatePages(Space& space, const SpaceImageState& state, intptr_t delta) {
  (void)space;
  Mover m{state.reservationBase, state.reservationBase + state.reservationBytes, delta};
  size_t objects = 0;
  for (const MemoryRange& r : pages(state)) {
    // Walk the objects at their new addresses; the recorded top is moved too.
    uintptr_t from = uintptr_t(intptr_t(r.start) + delta);
    uintptr_t top = 0;
    for (size_t i = 0; i < state.oldSpace.segments.size(); i++) {
      const Segment& s = state.oldSpace.segments[i];
      if (s.start == r.start) top = i == state.oldSpace.bumpSegment ? state.oldSpace.bumpTop : s.top;
    }
    uintptr_t to = uintptr_t(intptr_t(top) + delta);
    for (uintptr_t p = from; p < to;) {
      HeapObject* o = HeapObject::fromBlockStart(p);
      size_t bytes = o->totalBytes();
      if (o->classIndex() == reserved_class::kFreeChunk) {
        if (o->slotCount() >= 1) {
          uintptr_t& link = *reinterpret_cast<uintptr_t*>(o->slots());
          link = m.address(link);
        }
      } else {
        size_t n = o->pointerSlotCount();
        Oop* slots = o->slots();
        for (size_t i = 0; i < n; i++) slots[i] = m.oop(slots[i]);
        objects++;
      }
      p += bytes;
    }
  }
  return objects;
}

size_t SpaceImage::adopt(Space& space, SpaceImageState state, intptr_t delta) {
  size_t relocated = 0;
  if (delta != 0) {
    relocated = relocatePages(space, state, delta);
    Mover m{state.reservationBase, state.reservationBase + state.reservationBytes, delta};
    OldSpace::State& o = state.oldSpace;
    o.nextAddress = m.address(o.nextAddress);
    for (auto& [start, size] : o.releasedRanges) start = m.address(start);
    for (Segment& s : o.segments) {
      s.start = m.address(s.start);
      s.end = uintptr_t(intptr_t(s.end) + delta);
      s.top = uintptr_t(intptr_t(s.top) + delta);
    }
    o.lowest = m.address(o.lowest);
    o.highest = uintptr_t(intptr_t(o.highest) + delta);
    o.bumpTop = uintptr_t(intptr_t(o.bumpTop) + delta);
    o.bumpEnd = uintptr_t(intptr_t(o.bumpEnd) + delta);
    for (uintptr_t& head : o.exactLists) head = m.address(head);
    o.largeList = m.address(o.largeList);
    for (Oop& s : state.stacks) s = m.oop(s);
    state.specialObjects = m.oop(state.specialObjects);
  }
  space.oldSpace_->restoreState(state.oldSpace);
  space.stacks_ = state.stacks;
  space.specialObjects_ = state.specialObjects;
  space.nil_ = space.specialObjects_.object()->slot(special::kNil);
  space.hashSeed_ = state.hashSeed;
  space.arrayClassIndex_ = state.arrayClassIndex;
  space.classTable_.reattach();
  space.classTable_.setNextFreeIndex(state.nextFreeClassIndex);
  space.symbols_.setSymbolClassIndex(state.symbolClassIndex);
  space.symbols_.reattach();
  return relocated;
}

}  // namespace space
