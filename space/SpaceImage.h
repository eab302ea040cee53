// SpaceImage: a space as it is written into an image and read back — the pages that hold
// objects (eden and the survivors up to their tops, each old segment up to its top) plus
// the C++ state beside them (SpaceImageState). The nursery is taken as it is, not emptied
// into old space: copying the young objects that a busy program keeps alive would be most
// of a snapshot's pause. Loading maps the pages at their old addresses, or anywhere and
// then relocates every reference (docs/ARCHITECTURE.md, image/).
#pragma once

#include <cstdint>
#include <vector>

#include "space/ClassIndex.h"
#include "space/Nursery.h"
#include "space/OldSpace.h"
#include "space/Oop.h"
#include "space/WriteTracker.h"

namespace space {

class Space;

// Everything of a space that is not in its pages. Addresses are those of the space it was
// taken from (reservationBase says where that space lay).
struct SpaceImageState {
  uintptr_t reservationBase = 0;
  size_t reservationBytes = 0;
  Nursery::State nursery{};
  // The old objects that may reference young ones (RememberedSet's invariant, with the
  // active stack included: it is not active in a loaded space).
  std::vector<Oop> remembered;
  OldSpace::State oldSpace{};
  std::vector<Oop> stacks;  // the registered process stacks
  Oop specialObjects;
  uint32_t hashSeed = 0;
  ClassIndex nextFreeClassIndex = 0;
  ClassIndex arrayClassIndex = 0;
  ClassIndex symbolClassIndex = 0;  // the class of the symbols the table interns
};

// Moving references recorded in an image's reservation by the distance to where the image
// was loaded: heap oops and raw addresses inside the old reservation move, the rest stay.
struct Relocation {
  uintptr_t oldBase = 0, oldEnd = 0;
  intptr_t delta = 0;
  static Relocation of(const SpaceImageState& state, intptr_t delta) {
    return {state.reservationBase, state.reservationBase + state.reservationBytes, delta};
  }
  bool inOld(uintptr_t a) const { return a >= oldBase && a < oldEnd; }
  uintptr_t address(uintptr_t a) const { return a != 0 && inOld(a) ? uintptr_t(intptr_t(a) + delta) : a; }
  Oop oop(Oop o) const {
    if (!o.isHeapObject() || !inOld(o.address())) return o;
    return Oop::fromObject(reinterpret_cast<const void*>(intptr_t(o.address()) + delta));
  }
};

class SpaceImage {
 public:
  // Answers the state beside the pages. The space must be quiescent (no process running,
  // no collection); it allocates nothing.
  static SpaceImageState capture(Space& space);
  // The pages that hold objects, in address order: eden up to its top, the survivors'
  // space up to its top, each old segment up to its top.
  static std::vector<MemoryRange> pages(const SpaceImageState& state);
  // Of them, the nursery's (eden's, then the survivors'), which come first.
  static std::vector<MemoryRange> nurseryPages(const SpaceImageState& state);
  // Old space's part of them for a running space, now: what a capture will take there,
  // less what its program adds before it (a snapshot arms its protection over these ahead
  // of its pause; the nursery changes too fast to be armed).
  static std::vector<MemoryRange> currentOldPages(const Space& space);

  // Makes a space built with Space(config, Space::ForImage) the space described by
  // `state`, whose pages the caller has already placed: at their recorded addresses plus
  // `delta` (the distance between this space's reservation and the recorded one).
  // With a non-zero delta every reference in the pages and in `state` is moved by it.
  // Answers the objects visited by relocation (0 when delta is 0).
  static size_t adopt(Space& space, SpaceImageState state, intptr_t delta);

 private:
  // Where segment `i`'s objects end (the bump segment's formatted part ends at bumpTop).
  static uintptr_t objectsTop(const SpaceImageState& state, size_t i);
  // The objects back to back in [start, end) (addresses after the move): moves their
  // references. Answers how many objects it visited.
  static size_t relocateObjects(uintptr_t start, uintptr_t end, const Relocation& r);
  static size_t relocatePages(const SpaceImageState& state, const Relocation& r);
};

}  // namespace space
