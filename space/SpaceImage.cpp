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
  // Into the area made ready ahead (Space::preparePromotionArea), if any is left.
  space.oldSpace_->setBumpFirst(true);
  try {
    Scavenger(space, TenureAll::Yes).run();
  } catch (...) {
    space.oldSpace_->setBumpFirst(false);
    space.collecting_ = false;
    throw;
  }
  space.oldSpace_->setBumpFirst(false);
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

std::vector<MemoryRange> SpaceImage::currentPages(const Space& space) {
  SpaceImageState s;
  s.oldSpace = space.oldSpace_->state();
  return pages(s);
}

std::vector<MemoryRange> SpaceImage::pages(const SpaceImageState& state) {
  std::vector<MemoryRange> ranges;
  const OldSpace::State& o = state.oldSpace;
  for (size_t i = 0; i < o.segments.size(); i++) {
    const Segment& s = o.segments[i];
    uintptr_t end = std::min(s.end, Reservation::roundUpToPage(objectsTop(state, i)));
    if (end > s.start) ranges.push_back(MemoryRange{s.start, end});
  }
  return ranges;
}

uintptr_t SpaceImage::objectsTop(const SpaceImageState& state, size_t i) {
  return i == state.oldSpace.bumpSegment ? state.oldSpace.bumpTop : state.oldSpace.segments[i].top;
}

size_t SpaceImage::relocatePages(const SpaceImageState& state, const Relocation& m) {
  size_t objects = 0;
  for (size_t i = 0; i < state.oldSpace.segments.size(); i++) {
    // The objects at their new addresses, from the segment's start to its top.
    uintptr_t to = uintptr_t(intptr_t(objectsTop(state, i)) + m.delta);
    for (uintptr_t p = uintptr_t(intptr_t(state.oldSpace.segments[i].start) + m.delta); p < to;) {
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
        for (size_t k = 0; k < n; k++) slots[k] = m.oop(slots[k]);
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
    Relocation m = Relocation::of(state, delta);
    relocated = relocatePages(state, m);
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
