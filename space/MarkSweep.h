// MarkSweep: the full collector of old space. Runs after a scavenge that tenured every
// young object, so the whole heap is old: mark from the roots (space/Marker.h: all at
// once, or the end of a marking that ran in steps), then sweep each segment into free
// chunks by the MarkBitmap, clearing its bits on the way.
// Given CollectorThreads, the sweep shares its segments among their threads, each taking
// the next segment not yet taken; what each segment gave is put together in segment
// order, so the free lists come out as one thread's sweep would list them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "space/Marker.h"
#include "space/OldSpace.h"

namespace space {

class Space;
class HeapObject;
class CollectorThreads;

class MarkSweep final {
 public:
  // Free runs of at least this many bytes have their whole pages returned to the kernel
  // (they fault in again, zeroed, when reused): the resident set follows the live data.
  // Except, with keepNextCycle, the runs allocation takes first until their resident
  // pages hold what the program will allocate before the next full collection falls due
  // (Space::fullCollectionThreshold): it would fault those pages back in at once. Where
  // uploads churn large objects, giving back those pages was 85% of the sweep
  // (docs/PERFORMANCE.md).
  static constexpr size_t kReleaseFreeBytes = size_t(64) << 10;
  // The smallest run that can give a page back (its first page keeps the chunk header).
  static constexpr size_t kReleaseEveryPage = size_t(2) * 4096;

  // `threads` null (or with no helper): the calling thread does all the work.
  // keepNextCycle: keep the free runs the next cycle will allocate from (see
  // kReleaseFreeBytes); false releases every one (an idle release).
  explicit MarkSweep(Space& space, size_t releaseFreeBytes = kReleaseFreeBytes, CollectorThreads* threads = nullptr,
                     bool keepNextCycle = false)
      : space_(space), releaseFreeBytes_(releaseFreeBytes), threads_(threads), keepNextCycle_(keepNextCycle) {}
  // Marks (finishing `incremental` when given: the space's marking in progress), then
  // sweeps.
  void run(Marker* incremental = nullptr) {
    mark(incremental);
    sweep();
  }
  // The two phases apart: a collection that sweeps lazily (space/LazySweep.h) marks in
  // its pause and leaves the sweep to sweepSegment.
  void mark(Marker* incremental = nullptr);
  void sweep();
  // Bytes of address range whose pages the sweep released.
  size_t releasedBytes() const { return releasedBytes_; }
  // How long each phase took (marking includes the weak tables' clean-up).
  uint64_t markNanos() const { return markNanos_; }
  uint64_t sweepNanos() const { return sweepNanos_; }
  // Of sweepNanos: giving pages back (empty segments, large free runs).
  uint64_t releaseNanos() const { return releaseNanos_; }
  // Bytes of objects the marking scanned (for pacing the next marking).
  uint64_t scannedBytes() const { return scannedBytes_; }
  size_t releaseFreeBytes() const { return releaseFreeBytes_; }
  bool keepsNextCycle() const { return keepNextCycle_; }

  // What sweeping a run of segments gave, put together with the others' in segment order.
  struct SweptPart {
    size_t firstSegment = 0, endSegment = 0;
    // A lazy sweep's part: the runs that may give pages back are noted in `large` and
    // not listed in `free` (the lazy sweep lists them by their fate).
    bool largeApart = false;
    OldSpace::FreeChunks free;
    size_t liveBytes = 0;
    std::vector<size_t> emptySegments;
    // Listed free runs whose pages may go back (releaseLargeRuns), in address order; with
    // keepTail, the runs that end a segment are among them.
    std::vector<std::pair<uintptr_t, size_t>> large;
    // With keepTail: the free runs that end a segment.
    std::vector<std::pair<uintptr_t, size_t>> tails;
  };
  // A lazy sweep's unit: segment `index` alone, its large runs apart.
  SweptPart sweepSegment(size_t index) const {
    SweptPart part;
    part.firstSegment = index;
    part.endSegment = index + 1;
    part.largeApart = true;
    sweepPart(part, /*keepTail=*/false);
    return part;
  }

  // Which large free runs keep their pages, in the order allocation takes them: the
  // first ones, until their resident pages hold keepBytes (see kReleaseFreeBytes).
  class RunKeeping {
   public:
    explicit RunKeeping(size_t keepBytes) : keepBytes_(keepBytes) {}
    enum class Fate {
      Keep,      // pages kept, mostly resident
      KeepCold,  // pages kept, mostly not resident (never written, or given back before)
      Release,   // pages given back
    };
    // The fate of the run whose releasable pages are [from, to).
    Fate decide(uintptr_t from, uintptr_t to);

   private:
    size_t keepBytes_;
    size_t kept_ = 0;  // resident bytes of the runs kept so far
  };

 private:
  void forgetDead();
  // One part for all segments; with helper threads, one a segment (threads take the next
  // one not taken, so a thread that meets many small objects does not hold up the rest).
  std::vector<SweptPart> partsForSweep() const;
  void sweepPart(SweptPart& part, bool keepTail) const;
  // Lists a free run, and notes it in `large` when it may give pages back.
  void addFreeRun(SweptPart& part, uintptr_t start, size_t bytes) const;
  // Lists a segment's last free run (with keepTail also noted in `tails`).
  void addTail(SweptPart& part, uintptr_t start, size_t bytes, bool keepTail) const;
  // Gives back the pages of the large runs of `parts` (adopted in their order), but for
  // those allocation takes first until their resident pages hold keepBytes and, with
  // keepTail, the last tail (the next bump area). On the collector threads when shared.
  // Then lists the runs whose pages are not resident last. Answers the bytes released.
  size_t releaseLargeRuns(const std::vector<SweptPart>& parts, size_t keepBytes, bool keepTail) const;
  bool shared() const;

  Space& space_;
  size_t releaseFreeBytes_;
  CollectorThreads* threads_;
  bool keepNextCycle_;
  size_t releasedBytes_ = 0;
  uint64_t markNanos_ = 0, sweepNanos_ = 0, releaseNanos_ = 0;
  uint64_t scannedBytes_ = 0;
};

}  // namespace space
