// SpaceImage: see SpaceImage.h.
#include "space/SpaceImage.h"

#include <stdexcept>

#include "space/HeapObject.h"
#include "space/Scavenger.h"
#include "space/Space.h"

namespace space {

SpaceImageState SpaceImage::capture(Space& space) {
  if (space.collecting_) throw std::logic_error("an image of a space during a collection");
  space.finishSweeping();  // an image holds no dead object (ImageWriter::arm ended it, ahead)
  // The active stack is written without a barrier (RememberedSet.h); in the loaded space
  // no stack is active, so it is remembered like any old object holding young ones.
  if (!space.activeStack_.isNull()) space.rememberIfOld(space.activeStack_.object());
  space.oldSpace_->makeWalkable();

  SpaceImageState s;
  s.reservationBase = space.reservation_->base();
  s.reservationBytes = space.reservation_->size();
  s.nursery = space.nursery_->state();
  for (HeapObject* o : space.rememberedSet_.entries()) s.remembered.push_back(o->asOop());
  s.oldSpace = space.oldSpace_->state().withoutSpare();
  s.stacks = space.stacks_;
  s.specialObjects = space.specialObjects_;
  s.hashSeed = space.hashSeed_;
  s.nextFreeClassIndex = space.classTable_.nextFreeIndex();
  s.arrayClassIndex = space.arrayClassIndex_;
  s.symbolClassIndex = space.symbols_.symbolClassIndex();
  return s;
}

std::vector<MemoryRange> SpaceImage::currentOldPages(const Space& space) {
  SpaceImageState s;
  s.oldSpace = space.oldSpace_->state().withoutSpare();
  return pages(s);
}

namespace {
// Adds [start, top) to `ranges` unless empty: a region starts on a page and ends on one at
// or above its top.
void addRegion(std::vector<MemoryRange>& ranges, uintptr_t start, uintptr_t top) {
  uintptr_t end = Reservation::roundUpToPage(top);
  if (end > start) ranges.push_back(MemoryRange{start, end});
}
}  // namespace

std::vector<MemoryRange> SpaceImage::nurseryPages(const SpaceImageState& state) {
  std::vector<MemoryRange> ranges;
  addRegion(ranges, state.nursery.edenStart, state.nursery.edenTop);
  addRegion(ranges, state.nursery.survivorStart, state.nursery.survivorTop);
  return ranges;
}

std::vector<MemoryRange> SpaceImage::pages(const SpaceImageState& state) {
  std::vector<MemoryRange> ranges = nurseryPages(state);
  auto add = [&](uintptr_t start, uintptr_t top) { addRegion(ranges, start, top); };
  const OldSpace::State& o = state.oldSpace;
  for (size_t i = 0; i < o.segments.size(); i++) add(o.segments[i].start, objectsTop(state, i));
  return ranges;
}

uintptr_t SpaceImage::objectsTop(const SpaceImageState& state, size_t i) {
  return i == state.oldSpace.bumpSegment ? state.oldSpace.bumpTop : state.oldSpace.segments[i].top;
}

size_t SpaceImage::relocateObjects(uintptr_t start, uintptr_t end, const Relocation& m) {
  size_t objects = 0;
  for (uintptr_t p = start; p < end;) {
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
  return objects;
}

size_t SpaceImage::relocatePages(const SpaceImageState& state, const Relocation& m) {
  // The objects at their new addresses (`state.nursery` is moved already): the nursery's
  // and each old segment's, from its start to its top.
  const Nursery::State& n = state.nursery;
  size_t objects = relocateObjects(n.edenStart, n.edenTop, m);
  objects += relocateObjects(n.survivorStart, n.survivorTop, m);
  for (size_t i = 0; i < state.oldSpace.segments.size(); i++) {
    uintptr_t from = uintptr_t(intptr_t(state.oldSpace.segments[i].start) + m.delta);
    objects += relocateObjects(from, uintptr_t(intptr_t(objectsTop(state, i)) + m.delta), m);
  }
  return objects;
}

size_t SpaceImage::adopt(Space& space, SpaceImageState state, intptr_t delta) {
  size_t relocated = 0;
  if (delta != 0) {
    Relocation m = Relocation::of(state, delta);
    Nursery::State& n = state.nursery;
    for (uintptr_t* a : {&n.edenStart, &n.edenTop, &n.edenEnd, &n.survivorStart, &n.survivorTop}) {
      *a = uintptr_t(intptr_t(*a) + delta);
    }
    relocated = relocatePages(state, m);
    for (Oop& r : state.remembered) r = m.oop(r);
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
  space.nursery_->restoreState(state.nursery);
  space.oldSpace_->restoreState(state.oldSpace);
  std::vector<HeapObject*> remembered;
  for (Oop r : state.remembered) remembered.push_back(r.object());  // their bits are set in the pages
  space.rememberedSet_.setEntries(std::move(remembered));
  space.stacks_ = state.stacks;
  space.specialObjects_ = state.specialObjects;
  space.nil_ = space.specialObjects_.object()->slot(special::kNil);
  space.hashSeed_ = state.hashSeed;
  space.arrayClassIndex_ = state.arrayClassIndex;
  space.classTable_.reattach();
  space.classTable_.setNextFreeIndex(state.nextFreeClassIndex);
  space.symbols_.setSymbolClassIndex(state.symbolClassIndex);
  space.symbols_.reattach();
  space.oldSpace_->keepSpareSegment(space.config_.warmSpareSegment);
  return relocated;
}

}  // namespace space
