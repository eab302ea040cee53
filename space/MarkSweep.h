// MarkSweep: the full collector of old space. Runs after a scavenge that tenured every
// young object, so the whole heap is old: mark from the roots (replacing references to
// forwarders by their targets on the way), then sweep each segment into free chunks.
// Given CollectorThreads, the sweep shares its segments among their threads, each taking
// the next segment not yet taken; what each segment gave is put together in segment
// order, so the free lists come out as one thread's sweep would list them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "space/OldSpace.h"
#include "space/Roots.h"

namespace space {

class Space;
class HeapObject;
class CollectorThreads;

class MarkSweep final : private RootVisitor {
 public:
  // Free runs of at least this many bytes have their whole pages returned to the kernel
  // (they fault in again, zeroed, when reused): the resident set follows the live data.
  static constexpr size_t kReleaseFreeBytes = size_t(64) << 10;
  // The smallest run that can give a page back (its first page keeps the chunk header).
  static constexpr size_t kReleaseEveryPage = size_t(2) * 4096;

  // `threads` null (or with no helper): the calling thread does all the work.
  explicit MarkSweep(Space& space, size_t releaseFreeBytes = kReleaseFreeBytes, CollectorThreads* threads = nullptr)
      : space_(space), releaseFreeBytes_(releaseFreeBytes), threads_(threads) {}
  void run();
  // Bytes of address range whose pages the sweep released.
  size_t releasedBytes() const { return releasedBytes_; }
  // How long each phase took (marking includes the weak tables' clean-up).
  uint64_t markNanos() const { return markNanos_; }
  uint64_t sweepNanos() const { return sweepNanos_; }

 private:
  // What sweeping a run of segments gave, put together with the others' in segment order.
  struct SweptPart {
    size_t firstSegment = 0, endSegment = 0;
    OldSpace::FreeChunks free;
    size_t liveBytes = 0;
    size_t releasedBytes = 0;
    std::vector<size_t> emptySegments;
    // With keepTail: the free runs that end a segment, their pages not yet released.
    std::vector<std::pair<uintptr_t, size_t>> tails;
  };

  void visit(Oop& slot) override;
  // Queues `slot` for marking after prefetching the header it refers to; marks the slot
  // queued kPrefetchDistance slots before it (markNow). Marking misses the cache on
  // nearly every header it reads: queued, the misses of the next few overlap.
  void markSlot(Oop& slot);
  void markNow(Oop& slot);
  // Scans the marked objects on the stack and marks what the queue holds until both are
  // empty.
  void drain();
  void forgetDead();
  void sweep();
  // One part for all segments; with helper threads, one a segment (threads take the next
  // one not taken, so a thread that meets many small objects does not hold up the rest).
  std::vector<SweptPart> partsForSweep() const;
  void sweepPart(SweptPart& part, bool keepTail) const;
  // Lists a segment's last free run; with keepTail its pages wait (see sweep()), else the
  // large ones are released now.
  void addTail(SweptPart& part, uintptr_t start, size_t bytes, bool keepTail) const;
  // Releases the whole pages of a free run of at least releaseFreeBytes_, adding them to
  // `released`.
  void releaseFreePages(uintptr_t start, size_t bytes, size_t& released) const;
  bool shared() const;

  Space& space_;
  size_t releaseFreeBytes_;
  CollectorThreads* threads_;
  size_t releasedBytes_ = 0;
  uint64_t markNanos_ = 0, sweepNanos_ = 0;
  // Invariant: every object on the mark stack is marked; its slots are not yet scanned.
  std::vector<HeapObject*> markStack_;
  // Slots queued by markSlot, not yet marked (null: an empty place). A slot lives in a
  // marked object or a root, and the queue is empty whenever drain() returns, so no
  // queued slot outlives the object or root that holds it.
  static constexpr size_t kPrefetchDistance = 16;
  Oop* queued_[kPrefetchDistance] = {};
  size_t queueNext_ = 0;  // the place markSlot fills next: the oldest slot queued
};

}  // namespace space
