// RunAhead: how many pages a first write to a tracked page takes at once, for the
// trackers that catch first writes by page protection (space::WriteTracker armed ahead of
// a checkpoint, image::UffdProtection during a snapshot). A write just above pages already
// taken continues a run (a buffer filled, objects written one after another): it takes as
// many pages ahead as the run has taken behind it, up to `maxPages`, so a run of n pages
// costs about log2(n) + 1 faults and takes at most about as many pages ahead as it wrote.
// Any other write takes its own page only: a page taken but never written is copied for
// nothing, and on a virtual machine a page untouched for long stalls its first read for
// about 5 us while the host maps it back.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace space {

// The pages to take at `index` (1 or more, never past `end`): `taken[i]` is nonzero for
// each page i already taken; pages below `first` are not looked at.
inline size_t pagesToTake(const uint8_t* taken, size_t first, size_t index, size_t end, size_t maxPages) {
  size_t behind = 0;
  // Relaxed atomic loads: fault handlers on other threads may be marking pages meanwhile.
  while (behind < maxPages && index - behind > first && __atomic_load_n(&taken[index - behind - 1], __ATOMIC_RELAXED))
    behind++;
  return std::clamp<size_t>(behind, 1, end - index);
}

}  // namespace space
