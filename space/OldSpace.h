// OldSpace: the old generation — non-moving objects in segments, allocated from
// size-segregated free lists and a bump area, reclaimed by mark-sweep (MarkSweep.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "space/HeapObject.h"
#include "space/PageReleaseThread.h"
#include "space/Reservation.h"
#include "space/Segment.h"

namespace space {

class OldSpace {
 public:
  static constexpr size_t kDefaultSegmentBytes = size_t(8) << 20;
  // Free chunks of fewer words than this sit on exact-size lists; larger ones on one list.
  static constexpr size_t kExactListWords = 128;

  // Old space grows upward from `firstAddress` inside `reservation`; `maxBytes` bounds the
  // committed segment bytes (the space's heap limit).
  OldSpace(Reservation& reservation, uintptr_t firstAddress, size_t maxBytes);
  // Waits for the spare segment's job: it writes into the reservation.
  ~OldSpace();
  OldSpace(const OldSpace&) = delete;
  OldSpace& operator=(const OldSpace&) = delete;

  // Returns the start of a block of `bytes` (multiple of 8, >= 16), or 0 when the heap
  // limit would be exceeded. Never collects (but may sweep: see SegmentSweeper). The
  // block's contents are unspecified.
  uintptr_t allocateBlock(size_t bytes);

  // While a full collection's sweep is left to run with the program (space/LazySweep.h),
  // an allocation that no free chunk takes sweeps one more segment, and looks again,
  // before it takes fresh memory (as far as the sweeper allows: see LazySweep).
  class SegmentSweeper {
   public:
    // Sweeps the next segment not yet swept onto the free lists; false when none is left,
    // or none may be swept now.
    virtual bool sweepNextSegment() = 0;

   protected:
    ~SegmentSweeper() = default;
  };
  void setSegmentSweeper(SegmentSweeper* sweeper) { sweeper_ = sweeper; }

  // While set, allocateBlock appends each block it gives out below `below` to `blocks`:
  // what an InstanceCensus's walk has passed (space/InstanceCensus.h).
  struct AllocationWatch {
    uintptr_t below = 0;
    std::vector<std::pair<uintptr_t, size_t>> blocks;  // start, bytes
  };
  void setAllocationWatch(AllocationWatch* watch) { watch_ = watch; }

  // Makes the bump area at least `bytes` long, opening a segment if it is shorter, and
  // answers its start; 0 (nothing changed) when the heap limit leaves no room.
  uintptr_t reserveBumpArea(size_t bytes);
  // Makes a free chunk of at least `bytes` that ends its segment the bump area (closing
  // the current one); false when there is none.
  bool takeFreeTailAsBumpArea(size_t bytes);
  // Moves the bump area's start up to a page boundary (the bytes skipped become a free
  // chunk), so that what is allocated from it next shares no page with older objects: a
  // checkpoint tracks the pages holding those, and the first allocation would fault.
  void alignBumpAreaToPage();
  // While set, allocateBlock takes the bump area before any free list: the objects of a
  // snapshot's pause-time promotion then land in memory made ready for them ahead
  // (Space::preparePromotionArea) instead of free chunks scattered over the heap, and
  // those made under a checkpoint or its arming in memory it does not track or protect
  // (SpaceCheckpoint.h, Space::armCheckpoint).
  void setBumpFirst(bool bumpFirst) { bumpFirst_ = bumpFirst; }
  bool bumpFirst() const { return bumpFirst_; }
  // While set (with bump first, under a checkpoint or its arming), an allocation the bump
  // area cannot take opens a new segment, where the heap limit leaves room for a whole
  // one, before it reuses a free chunk: a new segment lies outside the tracked ranges, and
  // a rollback drops it, where each page of a free chunk costs a copy-on-write fault. An
  // instance migration makes its new instances by the thousand.
  void setGrowBeforeReuse(bool grow) { growBeforeReuse_ = grow; }
  bool growBeforeReuse() const { return growBeforeReuse_; }

  // The spare segment: the range of the next segment, committed ahead and written once,
  // page by page, on the PageReleaseThread, so that the next segment old space opens is
  // memory the process has written before. On this machine kind (a virtual machine with
  // shadow page tables) the first write to a fresh page costs 6-12 us (half of it even
  // after MADV_POPULATE_WRITE), a page written before 0.2 us, and a write by any thread
  // makes the page cheap for all: an instance migration that filled 800 fresh pages in an
  // update's pause spent 5-6 ms on them. The spare holds no object and is not a segment —
  // heap walks, images and committedBytes() leave it out — until openSegment takes it, once
  // its job is done (a segment needed before that is fresh memory as without a spare).
  // Then the next spare is prepared, unless held.
  //
  // keepSpareSegment(true) prepares one now (where the heap limit leaves room for it
  // beside a segment) and after each one taken; false gives it back.
  void keepSpareSegment(bool keep);
  //
  // Such a space keeps two more kinds of memory written ahead for the next update: the
  // pool of chunks a checkpoint saves pages into (WriteTracker::keepSpareChunksReady),
  // and, after each full collection, the bump area (warmBumpArea). The sweeper gives the
  // pages of large free runs back, so the bump area a checkpoint allocates from is fresh
  // memory again after every collection: a migration of 100,000 instances took 800
  // faults there, 4-5 ms of its pause.
  //
  // While held no spare is prepared: a checkpoint holds it, so that its rollback meets no
  // spare it did not save (restoreState). Releasing the hold prepares one if it is kept.
  void holdSpareSegment(bool held);
  bool spareSegmentReady();  // tests
  // Room for `bytes` of objects to come in one go (an instance migration's new versions,
  // which a checkpoint's pause makes in new segments, bump first): the spare is made at
  // least that long (page-rounded), growing a shorter one in place where the range after
  // it is free and dropping it otherwise, where the limit leaves room for it beside the
  // next segment; otherwise it stays as it is. A segment opened for any size up to the
  // spare's takes it whole. The size asked for holds until a segment takes the spare;
  // later spares are kDefaultSegmentBytes again. A held spare is not changed.
  void prepareSpareRoom(size_t bytes);
  // The most room prepareSpareRoom makes: what the PageReleaseThread writes in about the
  // half second an update waits for it, and a bound on the memory a migration's room
  // holds beside the heap until a segment takes it. A larger migration's new versions
  // past it go to fresh segments, as without a room.
  static constexpr size_t kMaxSpareRoomBytes = size_t(128) << 20;
  // The spare prepareSpareRoom asked for is written by now, or none is coming.
  bool spareRoomReady();
  bool keepsSpareSegment() const { return keepSpare_; }
  // Where a spare is kept (and not held): makes the free run that ends a segment the bump
  // area when there is none, and writes its pages (up to a segment's worth) on the
  // PageReleaseThread while the space runs on. Called after a full collection.
  void warmBumpArea();
  // Waits for warmBumpArea's job; done before anything decommits or sweeps its range.
  void waitForBumpAreaWarming();
  static constexpr size_t kMinWarmBumpBytes = 64 * 1024;
  // The spare's range, start 0 when there is none.
  std::pair<uintptr_t, size_t> spareSegment() const { return {spare_.start, spare_.bytes}; }

  bool contains(uintptr_t a) const { return a - lowest_ < highest_ - lowest_ && segmentOf(a) != nullptr; }
  const Segment* segmentOf(uintptr_t a) const;
  const std::vector<Segment>& segments() const { return segments_; }

  // Formats the open bump area so every segment is fully walkable.
  void makeWalkable();
  // Walks every block (objects and free chunks) of every segment.
  template <class F>
  void forEachBlock(F&& f) {
    makeWalkable();
    for (Segment& s : segments_) {
      for (uintptr_t p = s.start; p < s.top;) {
        HeapObject* o = HeapObject::fromBlockStart(p);
        size_t n = o->totalBytes();
        f(o);
        p += n;
      }
    }
  }

  // Called by the sweeper: forget all free lists and bump area, then re-add free chunks.
  void resetFreeLists();
  void addFreeChunk(uintptr_t start, size_t bytes);
  // A lazy sweep's free run whose pages are not resident (given back, or never written):
  // listed on a list allocation takes only after every other chunk (listLargeChunksLast
  // does the same for an eager sweep), until appendColdChunks puts them at the end of
  // the large list when the sweep ends. At least kExactListWords words.
  void addColdFreeChunk(uintptr_t start, size_t bytes);
  void appendColdChunks();
  // Free chunks listed apart from old space's lists (by one thread of a parallel sweep),
  // then put on them by adoptFreeChunks exactly as if each had been added there by
  // addFreeChunk, in the same order.
  class FreeChunks {
   public:
    void add(uintptr_t start, size_t bytes);

   private:
    friend class OldSpace;
    // The lists as addFreeChunk builds them (newest first), and the oldest chunk of each,
    // whose link the adoption points at the list it is put in front of.
    std::array<uintptr_t, kExactListWords> exactNewest_{}, exactOldest_{};
    uintptr_t largeNewest_ = 0, largeOldest_ = 0;
    size_t bytes_ = 0;
  };
  // Puts `chunks` on the free lists, in front of what they hold, and empties `chunks`.
  void adoptFreeChunks(FreeChunks& chunks);
  // Moves the listed chunks of the large list behind every other one, in the order the
  // list held them: the sweeper lists there the runs whose pages are not resident (given
  // back, or never written), so that allocation reuses written memory before it faults in
  // more.
  void listLargeChunksLast(std::vector<uintptr_t> chunks);
  // The pages of the free chunk [start, start + bytes) that can go back to the kernel:
  // the whole pages after its header and link, which stay. Empty (first >= second) when
  // there is none.
  static std::pair<uintptr_t, uintptr_t> releasablePages(uintptr_t start, size_t bytes) {
    constexpr uintptr_t kPage = Reservation::kPageSize;
    return {(start + 2 * sizeof(Oop) + kPage - 1) & ~(kPage - 1), (start + bytes) & ~(kPage - 1)};
  }
  // Releases a segment that holds no live object; its range is reused later.
  void releaseSegment(size_t index);
  void setLiveBytesAfterSweep(size_t b) {
    liveBytes_ = b;
    allocatedSinceSweep_ = 0;
  }
  // A lazy sweep's end: the live bytes it counted replace the collection's estimate,
  // and what was allocated since the collection stays counted.
  void correctLiveBytes(size_t b) { liveBytes_ = b; }

  // Everything of old space that lives outside its segments' memory (free-list heads,
  // bump area, segment list, counters): with the segments' pages, the whole of it.
  struct State {
    uintptr_t nextAddress;
    std::vector<std::pair<uintptr_t, size_t>> releasedRanges;
    std::vector<Segment> segments;
    uintptr_t lowest, highest;
    size_t bumpSegment;
    uintptr_t bumpTop, bumpEnd;
    std::array<uintptr_t, kExactListWords> exactLists;
    uintptr_t largeList;
    size_t maxBytes, committedBytes, liveBytes, allocatedSinceSweep, freeBytes;
    uintptr_t spareStart = 0;  // the spare segment (spareSegment()), 0 when none
    size_t spareBytes = 0;
    // The same state without a spare segment, its range free like a released one: what an
    // image records (its pages are not written, and a loaded space prepares its own).
    State withoutSpare() const;
  };
  State state() const;
  // Puts old space back into `saved` (taken by state() earlier, with no segment released
  // since); segments opened since are decommitted. The saved spare stays the spare if no
  // segment took it since; if one did, its range is free again; a spare prepared since
  // (only a loaded image's restore meets one) is given back.
  void restoreState(const State& saved);
  // The memory holding objects: each segment up to its top (the bump area beyond is
  // unformatted), page aligned.
  std::vector<std::pair<uintptr_t, uintptr_t>> occupiedRanges() const;

  size_t committedBytes() const { return committedBytes_; }
  size_t maxBytes() const { return maxBytes_; }
  void setMaxBytes(size_t b) { maxBytes_ = b; }
  size_t liveBytesAtLastSweep() const { return liveBytes_; }
  size_t allocatedSinceSweep() const { return allocatedSinceSweep_; }
  size_t freeBytes() const { return freeBytes_; }

 private:
  uintptr_t takeBlock(size_t bytes);  // allocateBlock, without the watch
  // From the large list, then the cold list.
  uintptr_t allocateFromLargeList(size_t bytes);
  uintptr_t allocateFromList(uintptr_t& list, size_t bytes);
  bool takeFreeTailFromList(uintptr_t& list, size_t bytes);
  bool openSegment(size_t minBytes);
  void closeBumpArea();
  uintptr_t takeAddressRange(size_t bytes);
  void rebuildIndex();
  // Whether the spare can be the new bump segment: ready, at least `bytes` long, and
  // within the limit.
  bool openSpareSegment(size_t bytes);
  // Prepares a spare of spareWanted_ bytes (kDefaultSegmentBytes where the limit leaves
  // no room for that many) when none is there.
  void prepareSpareSegment();
  // Posts the job that writes the spare's pages in [start, end).
  static PageReleaseThread::Ticket writeSparePages(uintptr_t start, uintptr_t end);
  // Waits for the spare's job, then decommits its range (answered, start 0 when none).
  std::pair<uintptr_t, size_t> dropSpareSegment();

  Reservation& reservation_;
  uintptr_t nextAddress_;  // first never-used address of the reservation
  std::vector<std::pair<uintptr_t, size_t>> releasedRanges_;
  std::vector<Segment> segments_;       // sorted by start
  uintptr_t lowest_ = 0, highest_ = 0;  // bounds of all segments, for a fast reject
  size_t bumpSegment_ = SIZE_MAX;       // index of the segment holding the bump area
  uintptr_t bumpTop_ = 0, bumpEnd_ = 0;
  bool bumpFirst_ = false;            // see setBumpFirst
  bool growBeforeReuse_ = false;      // see setGrowBeforeReuse
  AllocationWatch* watch_ = nullptr;  // see setAllocationWatch
  // Free lists are singly linked through slot 0 of free chunks (raw addresses, not oops;
  // free chunks are never scanned). exactLists_[w] holds chunks of exactly w words.
  std::array<uintptr_t, kExactListWords> exactLists_{};
  uintptr_t largeList_ = 0;
  // See addColdFreeChunk. Empty outside a lazy sweep: state() never records it.
  uintptr_t coldList_ = 0;
  SegmentSweeper* sweeper_ = nullptr;  // see setSegmentSweeper
  size_t maxBytes_;
  size_t committedBytes_ = 0;
  size_t liveBytes_ = 0;
  size_t allocatedSinceSweep_ = 0;
  size_t freeBytes_ = 0;
  // The spare segment (see keepSpareSegment): committed, written once by the job of
  // `warmed` on the PageReleaseThread; no one else touches its pages until that job is
  // done. bytes 0 when there is none.
  struct Spare {
    uintptr_t start = 0;
    size_t bytes = 0;
    PageReleaseThread::Ticket warmed = 0;
  };
  Spare spare_;
  // The size the next spare is made at: kDefaultSegmentBytes, or what prepareSpareRoom
  // asked for until a segment takes that spare.
  size_t spareWanted_ = kDefaultSegmentBytes;
  bool keepSpare_ = false;  // see keepSpareSegment
  // warmBumpArea's job, 0 when none is pending. It writes only by compare-and-swap of a
  // word with itself, so the space may allocate in the area while it runs; it must be
  // done before the area's pages are decommitted.
  PageReleaseThread::Ticket bumpAreaWarmed_ = 0;
  bool spareHeld_ = false;  // see holdSpareSegment
};

}  // namespace space
