// Marker: a full collection's marking, from the roots through every reachable old object,
// into the space's MarkBitmap. It runs in one of two ways:
//
// - StopTheWorld: all at once, after a scavenge that tenured everything (MarkSweep::run).
//   References to forwarders (left by becomeForward) are replaced by their targets on the
//   way, so that the sweep may free the forwarders.
// - Incremental: started when old space has grown by half the threshold of the next full
//   collection (Space::startMarkingIfDue), then in steps after each scavenge and old
//   allocation, and finished by the full collection (Space::collectGarbage): a pause that
//   marks only what the steps left, then sweeps. Marking never writes the heap (the bits
//   are beside it), so dropping a marking (Space::abandonMarking) costs nothing but the
//   work done; whatever changes the heap wholesale (an identity swap, a checkpoint's
//   rollback) does. A checkpoint that commits leaves it running.
//   A space with forwarders left by a become does not mark incrementally: its next full
//   collection stops the world and fixes the references to them.
//
// Invariant of an incremental marking (Dijkstra's, with the exceptions the finish mends):
// no scanned object refers to an unmarked old object, except
//   - roots and process stacks, which are written without a barrier: the finish marks
//     from the roots again and scans every marked stack again;
//   - young objects, which are never marked while the program runs: the scavenger greys
//     every object it promotes (greyPromoted), and the finish tenures every young one
//     first, so what only young objects refer to is reached through them.
// The write barrier keeps it: a store of an old object into an old one greys the value
// (greyValue, from Space::storePointer and writeBarrier), and a bulk store queues its
// target to be scanned again (rescan, from Space::rememberIfOld). Objects allocated old
// while marking are not marked: they are reached like any other, or die.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "space/HeapObject.h"
#include "space/MarkBitmap.h"
#include "space/Roots.h"

namespace space {

class Space;

class Marker final : private RootVisitor {
 public:
  enum class Mode { StopTheWorld, Incremental };

  Marker(Space& space, MarkBitmap& bits, Mode mode);

  // Marks what the roots refer to (the space's roots and its active stack).
  void greyRoots();
  // Marks and scans everything reachable from what is marked.
  void drain();
  // Scans about `budgetBytes` of objects, stopping early at `deadline`; answers true when
  // nothing is left to scan. Holds no slot address after it returns: the program may
  // then change any slot.
  bool step(size_t budgetBytes, std::chrono::steady_clock::time_point deadline);
  // An object is scanned a piece of this many slots at a time, the rest left on the stack
  // behind what the piece marked: a step ends within a piece of its deadline, however
  // large the object (a root array of 2 M slots, scanned whole, made a 100 ms step). A
  // slot can cost far more than its cache miss: the first mark on a page of the bitmap
  // faults it in (several microseconds on a virtual machine), and the hub's 512 KiB
  // versions each have their bit on a page of their own; pieces of 1,024 such slots made
  // a step of 7 ms.
  static constexpr size_t kPieceSlots = 128;
  // The end of an incremental marking, in the full collection's pause after its
  // scavenge tenured everything: marks from the roots again, scans every marked stack
  // again (written without a barrier), and drains.
  void finish();

  // The write barrier's part (see the invariant above). `value`: an old object.
  void greyValue(Oop value) { greyObject(value.object()); }
  // `o` received contents in bulk: scanned again if it was scanned already.
  void rescan(HeapObject* o) {
    if (bits_.isMarked(o) && o->pointerSlotCount() != 0) stack_.push_back({o, 0});
  }
  // `o` was just promoted by a scavenge: marked, and its slots scanned later.
  void greyPromoted(HeapObject* o) { greyObject(o); }

  // Nothing is left to scan (until the barrier greys more).
  bool empty() const { return stack_.empty(); }

  // Bytes of objects scanned so far (the unit of step budgets: objects without
  // references cost a header read when marked, not a scan).
  uint64_t scannedBytes() const { return scannedBytes_; }

  // Checks (in builds with assertions) that every old object reachable from the roots is
  // marked: what an incremental marking must leave before its sweep.
  void checkComplete();

 private:
  void visit(Oop& slot) override;
  void greyObject(HeapObject* o) {
    if (bits_.mark(o) && o->pointerSlotCount() != 0) stack_.push_back({o, 0});
  }
  // Queues `slot` for marking after prefetching the header it refers to; marks the slot
  // queued kPrefetchDistance slots before it (markNow). Marking misses the cache on
  // nearly every header it reads: queued, the misses of the next few overlap.
  void markSlot(Oop& slot);
  void markNow(Oop& slot);
  // Scans marked objects until the stack and the queue are empty, or until `until`
  // bytes are scanned or `deadline` has passed (the queue then still holds slots).
  void drainUntil(uint64_t until, std::chrono::steady_clock::time_point deadline);
  // How many slots are scanned between two readings of the clock (about 25 ns each;
  // marking a slot costs 10-50 ns, a cache miss mostly, more for a bitmap page's first
  // mark). A marking all at once reads no clock.
  static constexpr size_t kSlotsPerClockRead = kPieceSlots;
  // Marks every queued slot (which may push objects to scan).
  void flushQueue();
  bool young(const HeapObject* o) const;

  Space& space_;
  MarkBitmap& bits_;
  Mode mode_;
  uint64_t scannedBytes_ = 0;
  // Invariant: every object on the stack is marked; its slots from `from` on are to be
  // scanned. (Those before `from` were scanned: the barrier keeps the invariant above for
  // a partly scanned object as for one scanned whole. Objects do not move while a marking
  // runs: a become or a class change in place drops it. Only a process stack changes
  // size, counting its live part, and the finish scans it again whole.)
  struct Pending {
    HeapObject* object;
    size_t from;
  };
  std::vector<Pending> stack_;
  // Slots queued by markSlot, not yet marked (null: an empty place). A slot lives in a
  // marked old object, and the queue is empty whenever drain() or step() returns, so no
  // queued slot outlives the object that holds it, nor sees the program change it.
  static constexpr size_t kPrefetchDistance = 16;
  Oop* queued_[kPrefetchDistance] = {};
  size_t queueNext_ = 0;  // the place markSlot fills next: the oldest slot queued
};

}  // namespace space
