// Segment: one page-aligned, committed range of old space inside the space reservation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace space {

struct Segment {
  uintptr_t start = 0;
  uintptr_t end = 0;  // exclusive; page aligned
  // Invariant: [start, top) is tiled with objects and free chunks, back to back;
  // [top, end) is the unformatted bump area (only the segment being bump-allocated in
  // has top < end, and OldSpace::makeWalkable() closes it before any heap walk).
  uintptr_t top = 0;

  size_t bytes() const { return end - start; }
  bool contains(uintptr_t a) const { return a - start < end - start; }
};

}  // namespace space
