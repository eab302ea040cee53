// Nursery: the young generation of a space — an eden where new objects are bump-allocated
// and two survivor semispaces the scavenger copies live young objects between.
#pragma once

#include <cstddef>
#include <cstdint>

#include "space/Reservation.h"

namespace space {

// A contiguous bump-allocated range.
struct BumpRegion {
  uintptr_t start = 0;
  uintptr_t top = 0;  // next free byte; [start, top) holds objects back to back
  uintptr_t end = 0;

  bool contains(uintptr_t a) const { return a - start < end - start; }
  size_t used() const { return top - start; }
  size_t capacity() const { return end - start; }
};

class Nursery {
 public:
  // Lays the nursery out at the start of `reservation`: eden (edenBytes reserved, the
  // first initialEdenBytes in use), then two survivor spaces.
  Nursery(Reservation& reservation, size_t edenBytes, size_t initialEdenBytes, size_t survivorBytes);

  // Invariant: young objects live in `eden` or in `fromSurvivor()`; `toSurvivor()` is empty
  // except while a scavenge runs.
  BumpRegion eden;
  BumpRegion& fromSurvivor() { return survivors_[fromIndex_]; }
  BumpRegion& toSurvivor() { return survivors_[1 - fromIndex_]; }
  const BumpRegion& fromSurvivor() const { return survivors_[fromIndex_]; }
  void flipSurvivors() { fromIndex_ = 1 - fromIndex_; }

  // Eden's size adapts between a minimum and the reserved maximum (see Space::scavenge);
  // only called while eden is empty. Shrinking returns the pages beyond the new end.
  void setEdenLimit(size_t bytes, Reservation& reservation);
  size_t edenCapacity() const { return edenCapacity_; }
  // Returns the pages of eden and the to-survivor space (both must be empty) and of the
  // from-survivor space beyond its objects. Answers the bytes of range released.
  size_t releaseUnusedPages(Reservation& reservation);

  // What an image records of the nursery; its layout (where eden and the survivor spaces
  // lie) follows from the configuration, which the image records too.
  struct State {
    uintptr_t edenStart = 0, edenTop = 0;          // eden holds objects in [edenStart, edenTop)
    uintptr_t edenEnd = 0;                         // eden's limit (adapted by Space::resizeEden)
    int fromIndex = 0;                             // which survivor space holds the survivors
    uintptr_t survivorStart = 0, survivorTop = 0;  // they lie in [survivorStart, survivorTop)
  };
  State state() const { return {eden.start, eden.top, eden.end, fromIndex_, fromSurvivor().start, fromSurvivor().top}; }
  // The nursery as `s` recorded it; the pages are already in place. Throws
  // std::invalid_argument when `s` does not fit this nursery's layout.
  void restoreState(const State& s);

  uintptr_t start() const { return start_; }
  uintptr_t end() const { return end_; }
  bool contains(uintptr_t a) const { return a - start_ < end_ - start_; }
  size_t bytes() const { return end_ - start_; }

 private:
  BumpRegion survivors_[2];
  int fromIndex_ = 0;
  size_t edenCapacity_ = 0;  // the reserved maximum; eden.end may be lower
  uintptr_t start_ = 0;
  uintptr_t end_ = 0;
};

}  // namespace space
