// LazySweep: a full collection's sweep left to run with the program, so that the
// collection's pause only finishes the marking. Segment by segment, the sweep runs
//   - when an allocation finds no free chunk (OldSpace::SegmentSweeper), before old space
//     takes fresh memory: at most kSegmentsOnDemand of them between two of the program's
//     steps (the end of a scavenge, an old allocation), so that an allocation meeting
//     segments of dense live data, which free little, does not sweep them all; and none
//     while a scavenge promotes (its pause would grow by them: the hub's mean scavenge
//     went from 3.0 to 3.9 ms);
//   - in steps after scavenges and old allocations, paced to end once old space has grown
//     by an eighth of the next collection's threshold (a marking is due at half of it), and
//     at the program's heartbeat once a quarter of it is reached (Space::advanceSweep,
//     Space::collectAtHeartbeat);
//   - in the idle release's slices (Space::releaseMemoryWhileIdleSlice).
// While a snapshot holds the pages (Space::holdPages), a segment is swept only once the
// snapshot's writer no longer needs any of its pages (Space::pagesCaptured): the sweep
// writes free chunks and gives pages back. The writer takes old space in address order,
// as the sweep does, so the sweep follows it (heldBack()); ending the sweep before the
// writer is done waits for the writer (Space::finishSweepingNow). Nor does a sweep under
// a hold release a segment: its range could be taken again for a new segment while the
// capture still covers it.
// Swept in the pause, the hub's 0.5-1.3 GiB held the program 35-100 ms (docs/PERFORMANCE.md).
//
// Invariants until the sweep ends (Space::sweeping()):
//   - Segments not yet swept hold the dead objects of the collection, whose references
//     may name memory reused since. Whatever walks the heap or records it — forEachObject,
//     the verifier, a census, a checkpoint, an image — first ends the sweep
//     (Space::finishSweeping).
//   - Their live objects' mark bits stay set; swept segments have none. So no marking
//     starts before the sweep ends (Space::startMarking ends it), and a stop-the-world
//     collection drops the rest (Space::dropSweep: its own sweep covers every segment).
//   - No segment left to sweep is the bump segment, and the segments opened since are not
//     in the list: allocation takes only memory swept or new.
//   - Free runs whose pages are not resident wait on old space's cold list (allocation
//     takes them last); the end puts them behind the large list.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "space/MarkSweep.h"
#include "space/OldSpace.h"

namespace space {

class Space;

class LazySweep final : public OldSpace::SegmentSweeper {
 public:
  // After `marked`'s marking: forgets old space's free lists and bump area, and leaves
  // every segment to sweep. Its live bytes are estimated until the end as all that was in
  // use (what a sweep can only lower). The large free runs give their pages back as
  // `marked` would have (MarkSweep::RunKeeping, with the estimate's threshold kept).
  LazySweep(Space& space, const MarkSweep& marked);
  ~LazySweep();
  LazySweep(const LazySweep&) = delete;
  LazySweep& operator=(const LazySweep&) = delete;

  // Allocation may sweep this many segments before the next step (allowDemand).
  static constexpr int kSegmentsOnDemand = 2;
  bool sweepNextSegment() override;
  // At a step of the program (after a scavenge, an old allocation): allocation may sweep
  // `segments` more segments (0: none, while a scavenge promotes); the stretch swept on
  // demand since the last call ends.
  void allowDemand(int segments = kSegmentsOnDemand);
  // Sweeps segments until `budgetBytes` of them are swept, or until the next one would
  // not be swept by `deadline` at the pace so far (at least one); answers whether none is
  // left.
  bool step(size_t budgetBytes, std::chrono::steady_clock::time_point deadline);
  bool done() const { return unswept_.empty(); }
  // The next segment is one a snapshot's writer still needs: nothing is swept until it
  // has written it (see above).
  bool heldBack() const;

  // Bytes of segments swept by now, of those to sweep at the start.
  size_t sweptBytes() const { return sweptBytes_; }
  size_t bytesToSweep() const { return bytesToSweep_; }
  // The pace: segment bytes a step sweeps for each byte old space allocates, so that the
  // sweep ends once old space has grown by an eighth of the next collection's threshold;
  // and the growth (allocatedSinceSweep) from which it is behind (a quarter).
  size_t bytesPerByte() const { return bytesPerByte_; }
  size_t lateAt() const { return lateAt_; }
  // The collection's: the bytes its marking scanned (Space's scannedShare_ once the live
  // bytes are counted), and whether it is an idle release's (every free page goes back).
  uint64_t scannedBytes() const { return sweeper_.scannedBytes(); }
  bool forIdleRelease() const { return !sweeper_.keepsNextCycle(); }
  // The live bytes of the swept segments, and the address range whose pages they gave back.
  size_t liveBytes() const { return liveBytes_; }
  size_t releasedBytes() const { return releasedBytes_; }
  // Time spent sweeping so far, and the longest stretch in one go (a step, or the segments
  // allocation swept between two steps).
  uint64_t nanos() const { return nanos_; }
  uint64_t longestNanos() const { return longestNanos_; }

 private:
  // Sweeps the segment at the end of unswept_ and lists what it gave.
  void sweepOneSegment();
  // The size of the segment sweepOneSegment takes next (unswept_ not empty), and the time
  // a segment of `segmentBytes` takes at this sweep's pace so far.
  size_t nextSegmentBytes() const;
  std::chrono::nanoseconds expectedTime(size_t segmentBytes) const;
  // Lists a large run by its fate, giving its pages back if released.
  void listLargeRun(uintptr_t start, size_t bytes);

  Space& space_;
  MarkSweep sweeper_;  // the collection's: its parameters, and the segment walk
  MarkSweep::RunKeeping keeping_;
  std::vector<uintptr_t> unswept_;  // segment starts, highest first: the lowest goes next
  bool keptEmptySegment_ = false;   // one empty segment stays, against thrashing
  size_t bytesToSweep_ = 0, sweptBytes_ = 0;
  size_t bytesPerByte_ = 1, lateAt_ = 0;  // see bytesPerByte()
  size_t liveBytes_ = 0, releasedBytes_ = 0;
  uint64_t nanos_ = 0, longestNanos_ = 0;
  bool stepping_ = false;               // inside step(): its segments are timed as one stretch
  int demandLeft_ = kSegmentsOnDemand;  // segments allocation may still sweep before the next step
  uint64_t demandNanos_ = 0;            // time allocation swept since the last step
};

}  // namespace space
