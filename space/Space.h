// Space: the object memory of one object space — its reservation, nursery, old space,
// class table, symbol table, special objects, handles and roots — and the entry points for
// allocation, stores (with the write barrier), collection and identity swaps.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "space/Assert.h"
#include "space/ClassTable.h"
#include "space/GcStats.h"
#include "space/HandleTable.h"
#include "space/HeapObject.h"
#include "space/InstanceCensus.h"
#include "space/LazySweep.h"
#include "space/MarkBitmap.h"
#include "space/Marker.h"
#include "space/Nursery.h"
#include "space/OldSpace.h"
#include "space/RememberedSet.h"
#include "space/Reservation.h"
#include "space/Roots.h"
#include "space/ScavengeLog.h"
#include "space/SpecialObjects.h"
#include "space/SymbolTable.h"
#include "space/WeakRegistry.h"
#include "space/WeakTable.h"
#include "space/WriteTracker.h"

namespace space {

#ifdef ESPELL_GC_STRESS
constexpr bool kGcStressBuild = true;
#else
constexpr bool kGcStressBuild = false;
#endif

struct SpaceConfig {
  std::string name = "space";
  size_t edenBytes = size_t(16) << 20;    // the largest eden
  size_t minEdenBytes = size_t(2) << 20;  // eden adapts between this and edenBytes
  size_t survivorBytes = size_t(4) << 20;
  size_t maxOldBytes = size_t(4) << 30;         // heap limit for old space
  size_t reservationBytes = size_t(64) << 30;   // virtual address space reserved
  uintptr_t preferredBase = 0;                  // 0 = wherever the kernel likes
  size_t largeObjectBytes = size_t(256) << 10;  // objects this big are allocated old
  size_t minFullGcBytes = size_t(2) << 20;      // old-space growth that triggers a full GC
  unsigned tenureAge = 3;                       // scavenges survived before promotion (at most 3: 2-bit age)
  bool gcStress = kGcStressBuild;               // collect at every allocation
  bool measureLive = false;                     // full collection after every scavenge, to
                                                // record the peak live size (diagnostics)
  int64_t idleFullGcIntervalMillis = 5000;      // see Space::releaseMemoryWhileIdle
  // Mark old space in steps while the program runs (space/Marker.h), so that a full
  // collection's pause marks only what the steps left, in a space whose live data at the
  // last full collection was incrementalMarkingMinBytes or more (below, marking all at
  // once is short). GC stress builds mark in steps from the first byte.
  bool incrementalMarking = true;
  size_t incrementalMarkingMinBytes = size_t(8) << 20;
  // The least a step marks (a step costs a few microseconds to begin and end); GC stress
  // builds take a 64th of it, so that markings span many scavenges.
  size_t markingStepBytes = size_t(256) << 10;
  // The longest a step runs: a step that would scan more stops here, and what the steps
  // leave is marked by the full collection that falls due.
  int64_t maxMarkingStepMicros = 2000;
  // A marking behind its pace (steps that stopped at their deadline short of their
  // budget, or old space four fifths of the way to the collection) also marks at the
  // program's heartbeat (Space::collectAtHeartbeat): a step at most this often.
  int64_t markingCatchUpIntervalMicros = 10000;
  // The collections that fall due (and the idle release's slices) sweep lazily, segment
  // by segment while the program runs (space/LazySweep.h), in an old space of
  // lazySweepMinBytes or more (below, the sweep takes a millisecond or less): their pause
  // only marks. Explicit collections sweep at once. GC stress builds sweep lazily from
  // the first byte.
  bool lazySweeping = true;
  size_t lazySweepMinBytes = size_t(16) << 20;
  bool warmSpareSegment = false;  // keep a spare old segment written ahead
                                  // (OldSpace::keepSpareSegment): a space
                                  // that takes updates or snapshots
  // Threads a full collection sweeps on (MarkSweep), the program's own included; 0: one
  // for each processor the process may run on, at most kMaxCollectorThreads. Only old
  // spaces of parallelCollectionBytes or more share the work: below, waking the helpers
  // would cost more than they save. Marking stays on the program's thread (see
  // docs/PERFORMANCE.md: shared marking was measured slower).
  unsigned collectorThreads = 0;
  size_t parallelCollectionBytes = size_t(32) << 20;
  static constexpr unsigned kMaxCollectorThreads = 4;
};

// Thrown when an allocation cannot be satisfied even after a full collection.
class HeapExhausted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SpaceCheckpoint;
class CollectorThreads;

enum class Tenure { Young, Old };
enum class CopyHash { No, Yes };

class Space {
 public:
  explicit Space(const SpaceConfig& config);
  // A space whose objects come from an image (space/SpaceImage.h): nothing is allocated
  // until SpaceImage::adopt has placed the image's state.
  struct ForImage {};
  Space(const SpaceConfig& config, ForImage);
  ~Space();
  Space(const Space&) = delete;
  Space& operator=(const Space&) = delete;

  const std::string& name() const { return config_.name; }
  const SpaceConfig& config() const { return config_; }

  // ---- membership --------------------------------------------------------------------
  bool contains(Oop o) const { return reservation_->contains(o.address()); }
  bool isYoung(Oop o) const { return nursery_->contains(o.address()); }
  bool isYoung(const HeapObject* o) const { return nursery_->contains(reinterpret_cast<uintptr_t>(o)); }

  // ---- well-known objects ------------------------------------------------------------
  Oop nil() const { return nil_; }
  Oop trueObject() const { return specialObject(special::kTrue); }
  Oop falseObject() const { return specialObject(special::kFalse); }
  Oop specialObjectsArray() const { return specialObjects_; }
  Oop specialObject(size_t i) const { return specialObjects_.object()->slot(i); }
  void setSpecialObject(size_t i, Oop value) { storePointer(specialObjects_, i, value); }
  ClassTable& classTable() { return classTable_; }
  const ClassTable& classTable() const { return classTable_; }
  SymbolTable& symbols() { return symbols_; }
  const SymbolTable& symbols() const { return symbols_; }

  // Class index of Arrays, used for the object memory's own tables (set by the VM).
  ClassIndex arrayClassIndex() const { return arrayClassIndex_; }
  void setArrayClassIndex(ClassIndex i);

  ClassIndex classIndexOf(Oop o) const {
    if (!o.isImmediate()) [[likely]]
      return o.object()->classIndex();
    // By the tag bits (Oop.h): SmallIntegers end in 1, Characters in 010, SmallFloats in 100.
    static constexpr ClassIndex kImmediateClasses[8] = {0,
                                                        reserved_class::kSmallInteger,
                                                        reserved_class::kCharacter,
                                                        reserved_class::kSmallInteger,
                                                        reserved_class::kSmallFloat,
                                                        reserved_class::kSmallInteger,
                                                        0,
                                                        reserved_class::kSmallInteger};
    return kImmediateClasses[o.bits() & 7];
  }

  // ---- allocation (may collect; throws HeapExhausted) ----------------------------------
  // Pointer slots are initialized to nil, raw slots to zero.
  Oop allocate(ClassIndex cls, Format fmt, size_t slots, Tenure tenure = Tenure::Young) {
    size_t bytes = HeapObject::wordsForSlots(slots) * 8;
    if (tenure == Tenure::Young && bytes < config_.largeObjectBytes && !config_.gcStress) {
      uintptr_t p = nursery_->eden.top;
      if (p + bytes <= nursery_->eden.end) {
        nursery_->eden.top = p + bytes;
        return initializeObject(p, cls, fmt, slots);
      }
    }
    return allocateSlow(cls, fmt, slots, tenure);
  }
  // `count` old objects of one shape, made in runs of adjacent objects (an instance
  // migration makes a hundred thousand: one free-list allocation per run, not per
  // object); f(Oop) receives each in order and must make it reachable (a collection may
  // run before each run).
  template <typename F>
  void allocateOldObjects(ClassIndex cls, Format fmt, size_t slots, size_t count, F&& f) {
    size_t bytes = HeapObject::wordsForSlots(slots) * 8;
    size_t perRun = std::max<size_t>(1, kOldObjectRunBytes / bytes);
    for (size_t done = 0; done < count;) {
      size_t n = std::min(perRun, count - done);
      if (config_.gcStress && !collectDueGarbage()) scavenge();
      uintptr_t block = allocateOldBlock(n * bytes);
      stats_.bytesAllocatedOld += n * bytes;
      reservation_->populate(block, n * bytes);
      for (size_t i = 0; i < n; i++) f(initializeObject(block + i * bytes, cls, fmt, slots));
      done += n;
    }
  }
  static constexpr size_t kOldObjectRunBytes = 64 * 1024;
  // Eden bump allocation that never collects: the null oop when eden is full (then use
  // allocate()). Lets the interpreter skip saving its registers on the common path.
  Oop tryAllocateYoung(ClassIndex cls, Format fmt, size_t slots) {
    size_t bytes = HeapObject::wordsForSlots(slots) * 8;
    uintptr_t p = nursery_->eden.top;
    if (p + bytes > nursery_->eden.end || config_.gcStress) return Oop();
    nursery_->eden.top = p + bytes;
    return initializeObject(p, cls, fmt, slots);
  }
  Oop allocateBytes(ClassIndex cls, size_t byteCount, Tenure tenure = Tenure::Young) {
    size_t slots = (byteCount + 7) / 8;
    return allocate(cls, bytesFormatWithPadding(unsigned(slots * 8 - byteCount)), slots, tenure);
  }
  Oop allocateWords(ClassIndex cls, size_t words, Tenure tenure = Tenure::Young) {
    return allocate(cls, Format::Words, words, tenure);
  }
  // A shallow copy with the same class and format (and a fresh identity hash).
  Oop shallowCopy(Oop original, Tenure tenure = Tenure::Young);

  // ---- stores ------------------------------------------------------------------------
  void storePointer(Oop obj, size_t index, Oop value) {
    HeapObject* o = obj.object();
    o->slots()[index] = value;
    // The write barrier, by slot: a large array is remembered by the card of the slot;
    // while marking runs, an old value stored into an old object is marked (Marker.h).
    if (value.isHeapObject()) {
      if (nursery_->contains(value.address())) {
        if (!isYoung(o)) rememberedSet_.addSlot(o, index);
      } else if (marking_) [[unlikely]] {
        markStored(o, value);
      }
    }
  }
  // Restores the remembered-set invariant after `value` was stored into `target`: an old
  // object that references a young one is in the remembered set (the scavenger's roots);
  // and, while marking runs, the marking's (see Marker.h).
  void writeBarrier(HeapObject* target, Oop value) {
    ESPELL_ASSERT(!value.isHeapObject() || reservation_->contains(value.address()),
                  "a reference to an object outside this space");
    if (value.isHeapObject()) {
      if (nursery_->contains(value.address())) {
        if (!isYoung(target)) rememberedSet_.add(target);
      } else if (marking_) [[unlikely]] {
        markStored(target, value);
      }
    }
    ESPELL_ASSERT(
        !value.isHeapObject() || !nursery_->contains(value.address()) || isYoung(target) || target->isRemembered(),
        "an old object holds a young one without being remembered");
  }
  // For bulk stores: remembers `target` if it is old (cheaper than a check per slot),
  // and while marking runs has it scanned again.
  void rememberIfOld(HeapObject* target) {
    if (!isYoung(target)) {
      rememberedSet_.add(target);
      if (marking_) [[unlikely]]
        markStored(target, Oop());
    }
  }

  // ---- identity ----------------------------------------------------------------------
  uint32_t identityHash(Oop o);
  // Follows a chain of forwarders (left by becomeForward) to the object they stand for.
  static Oop follow(Oop o) {
    while (o.isHeapObject() && o.object()->isForwarded()) o = o.object()->slot(0);
    return o;
  }

  // Turns each from[i] into a forwarder to to[i]: every reference to from[i] now means
  // to[i]. With CopyHash::Yes, to[i] takes from[i]'s identity hash. O(pairs) plus a scan
  // of stacks, class table, special objects and handles. Throws std::invalid_argument
  // (leaving everything unchanged) when a pair cannot be forwarded.
  void becomeForward(std::span<const Oop> from, std::span<const Oop> to, CopyHash copyHash);
  // Swaps the identities of a[i] and b[i] (two-way become). Same guarantees.
  void swapIdentities(std::span<const Oop> a, std::span<const Oop> b);

  // ---- finding instances -------------------------------------------------------------
  // An InstanceCensus of `classes` (space/InstanceCensus.h), walked by censusStep while
  // the program runs, so that forEachInstanceOf in a pause need not walk the whole heap.
  // One at a time: opening another drops the first. A full collection, an identity swap,
  // a class change in place (noteClassChangedInPlace) or a rollback drops it.
  void openCensus(std::vector<ClassIndex> classes);
  // Walks on for about `budget`; true once the census is walked, or when none is open.
  bool censusStep(std::chrono::microseconds budget);
  void dropCensus() { census_.reset(); }
  const InstanceCensus* census() const { return census_.get(); }
  // Calls f for every object of class `c` (not forwarders, not free chunks), old and
  // young: from the census when one covers `c`, otherwise by walking every object (which
  // ends a lazy sweep first). f must not allocate.
  void forEachInstanceOf(ClassIndex c, const std::function<void(HeapObject*)>& f);
  // How many objects of class `c` the nursery holds now: with a census's count of old
  // ones, about what a pause will find.
  size_t youngInstancesOf(ClassIndex c) {
    size_t n = 0;
    forEachYoungObject([&](HeapObject* o) { n += o->classIndex() == c; });
    return n;
  }
  // A full collection now if one is due (old space has grown by fullCollectionThreshold):
  // what prepares a pause by walking the heap (an update's census) runs it first, rather
  // than have it drop that work on the way to the pause. Answers whether it collected.
  bool collectGarbageIfDue() { return fullCollectionDue() && collectDueGarbage(); }
  // An object's class index was rewritten in place (a class change without a copy).
  void noteClassChangedInPlace() {
    dropCensus();
    abandonMarking();
  }

  // ---- collection --------------------------------------------------------------------
  void scavenge();
  // A full collection: scavenge (tenuring everything), then mark-sweep old space, freeing
  // everything dead when it starts: a marking in progress is dropped and marking starts
  // over (the collections that fall due finish it instead: see Precision). Does nothing
  // while a checkpoint is active (see SpaceCheckpoint) and answers false then.
  bool collectGarbage();
  // The same, finishing a marking in progress (Precision::Finish below).
  bool collectDueGarbage();
  // What old space may allocate after a full collection that left `liveBytes` before the
  // next is due: half the live data, at least minFullGcBytes.
  size_t fullCollectionThreshold(size_t liveBytes) const;
  // An incremental marking runs (see Marker.h and SpaceConfig::incrementalMarking).
  bool marking() const { return marking_; }
  // Starts an incremental marking now (it marks from the roots), unless one runs or none
  // may (see markingAllowed); answers whether one runs. The space starts one by itself
  // when it is due (advanceMarking).
  bool startMarking();
  // Marks about `budgetBytes` more of the marking in progress; answers true once it has
  // nothing left to scan: the collection that falls due (collectDueGarbage) or an idle
  // release then finishes it.
  bool markStep(size_t budgetBytes);
  const MarkBitmap& markBits() const { return *markBits_; }
  // Drops the marking in progress, if any: what changes the heap wholesale (an identity
  // swap, a class changed in place, a checkpoint's rollback) calls it, rather than keep
  // the marking's invariant through it. The next full collection marks from the start.
  // A marking runs on through an update that commits: its stores pass the barrier like
  // the program's (a hub updated every second dropped 29 markings of 32, and its full
  // collections marked in their pauses); none starts while a checkpoint is armed or active.
  void abandonMarking();
  // While a snapshot streams this space's pages (image/ImageWriter.h), what would release
  // or rewrite them wholesale — a checkpoint, a collection that must free at once (an
  // allocation failing, one asked for), ending a sweep — first calls `finish`, which
  // waits for the writer (and drops the hold). Meanwhile the nursery keeps its pages (no
  // eden resizing, no release while idle: the writer may not have read them yet), and
  // promotion takes old space's bump area first (Space::preparePromotionArea): memory
  // above the captured pages, where it costs the snapshot no copy.
  //
  // With `captured`, the writer's answer to whether it still needs some page of
  // [start, end) as it was (it writes them in address order), a full collection that
  // falls due runs as usual, without waiting: its marking writes no object, and its sweep
  // is lazy (space/LazySweep.h) and sweeps a segment only once the writer no longer needs
  // it. Old space thus reuses what died during the snapshot behind the writer, and a
  // snapshot far behind a busy program no longer lets old space grow by all it promotes
  // meanwhile. A second collection that falls due before that sweep has ended waits, as
  // every due collection does without `captured`. Either way `owed`, if given, is called
  // once, on this space's thread, when the first collection falls due: a writer that
  // paces itself should then finish sooner, since until it does old space takes fresh
  // memory for what it holds, and a collection forced meanwhile (an allocation failing)
  // waits for all that is left.
  struct PagesHold {
    std::function<void()> finish = {};
    std::function<void()> owed = {};
    std::function<bool(uintptr_t start, uintptr_t end)> captured = {};
  };
  void holdPages(PagesHold hold);
  void releasePagesHold();
  // The snapshot holding the pages may still need some of [start, end) as it was: the
  // pages must not be discarded, and writing them costs it a copy (true for all while it
  // holds them without `captured`).
  bool pagesCaptured(uintptr_t start, uintptr_t end) const {
    return pagesHold_ && (!pagesHoldCaptured_ || pagesHoldCaptured_(start, end));
  }
  // A snapshot holds the heap: it streams the pages (a collection would wait for the
  // writer, unless collectsUnderHold) or is armed ahead of its pause (a collection would
  // drop the arming, and the pause would protect every page: 20 ms for a GiB).
  // Collections that can wait, wait.
  bool snapshotHoldsHeap() const { return pagesHold_ || snapshotDisarm_; }
  // The lazy sweep has segments left that the snapshot holding the pages still needs:
  // ending it means waiting for the writer.
  bool sweepHeldBack() const;
  // A snapshot that write-protects this space's pages ahead of its pause
  // (image/ArmedProtection.h) relies on them staying mapped until it captures: a full
  // collection, which may release segments and reuse their addresses, first calls
  // `disarm` (once: it is dropped then). Meanwhile full collections that can wait (due
  // by the allocation threshold, or while idle) wait. nullptr clears it.
  void setSnapshotArming(std::function<void()> disarm) { snapshotDisarm_ = std::move(disarm); }
  // Ahead of a snapshot: room in old space's bump area as large as the nursery, for what
  // scavenges promote while the pages are written (see holdPages). The caller faults its
  // pages in off the program's thread (Reservation::populate): a first touch costs a trap
  // per page otherwise. Empty when the heap limit leaves no room.
  MemoryRange preparePromotionArea();
  void waitForPagesHold() {
    if (pagesHold_) {
      std::function<void()> finish = std::move(pagesHold_);
      releasePagesHold();  // drops pagesHoldOwed_ and pagesHoldCaptured_ too
      finish();
    }
  }
  // The checkpoint this space can be rolled back to, or nullptr.
  const SpaceCheckpoint* checkpoint() const { return checkpoint_; }
  // The pages that hold objects: eden and the survivors up to their tops, old segments up
  // to theirs (memory above a top holds nothing a restored state would read). What a
  // checkpoint tracks.
  std::vector<MemoryRange> objectRanges() const;
  // Protects the pages that hold objects (objectRanges) ahead of the next checkpoint,
  // while the program still runs, so that the checkpoint's pause only saves what was
  // written or allocated since (see WriteTracker's arming). Does nothing while a snapshot
  // holds the pages or a checkpoint is active; a full collection disarms. The checkpoint
  // that follows takes it. It also makes sure the bump area has kCheckpointBumpBytes of
  // room, outside the protected pages, for the objects the checkpoint's update makes.
  // Both happen on the PageReleaseThread (WriteTracker's background arming): the space
  // runs on meanwhile, and the checkpoint waits for them only if they are not done.
  // While armed, old space allocates (promotion included) from the bump area first, then
  // from new segments (the spare, written ahead), before any free chunk: memory outside
  // the protected pages, which the checkpoint's begin() copies in the pause at about
  // 10 us a 128 KiB block, where a write into protected free chunks costs a fault a page
  // now (a scavenge of the hub that promoted 1.9 MB into them took 33.8 ms).
  void armCheckpoint();
  // An open census's instances (an update's migration or rehash writes every one in its
  // pause) are left out of the arming, their long runs of pages at least: begin() copies
  // them in the pause, as memory never protected, into the copies prepared for them
  // (prepareCheckpointCopies). Protected, the pause paid a copy and a protection call for
  // each, and making a page writable costs as much as copying it (0.6-0.7 us here).
  static constexpr size_t kMinUnprotectedRunBytes = size_t(128) << 10;
  static constexpr size_t kMaxUnprotectedRuns = 1024;  // each splits the protected mapping
  // `ranges` less the runs [start, end) of at least kMinUnprotectedRunBytes, the first
  // kMaxUnprotectedRuns of them; both in address order.
  static std::vector<MemoryRange> withoutRuns(const std::vector<MemoryRange>& ranges,
                                              const std::vector<std::pair<uintptr_t, uintptr_t>>& runs);
  // The pages of `ranges` that `kept` (pieces of them, as withoutRuns leaves) does not
  // cover; both in address order.
  static std::vector<MemoryRange> pagesNotIn(const std::vector<MemoryRange>& ranges,
                                             const std::vector<MemoryRange>& kept);
  // What a method-level update allocates in old space (methods, literals, the stacks of
  // its evaluations) with room to spare; a larger update goes on in the free lists.
  static constexpr size_t kCheckpointBumpBytes = 512 * 1024;
  void disarmCheckpoint() { takeArmedPages().reset(); }
  // Armed: the pages at `pages` are to be written in the coming checkpoint's pause (the
  // inline caches an update will clear); they are made writable before it (after the
  // arming's job) and copied when the checkpoint begins, instead of faulting one by one
  // in the pause
  // (WriteTracker::writeAhead). Does nothing unless armed. Sorts `pages`.
  void writeAheadOfCheckpoint(std::vector<uintptr_t>& pages) {
    if (armedPages_) armedPages_->writeAhead(pages);
  }
  // Armed: the coming checkpoint's pause will save about `pages` pages; the chunks for
  // their copies are written ahead (WriteTracker::prepareCopies). Does nothing unless armed.
  void prepareCheckpointCopies(size_t pages) {
    if (armedPages_) armedPages_->prepareCopies(pages);
  }
  // Room written ahead for `bytes` of old objects made in one go, as an instance
  // migration makes its new versions in its pause: the spare segment is made that long
  // (OldSpace::prepareSpareRoom). Does nothing in a space that keeps no spare.
  void prepareOldSpaceRoom(size_t bytes) { oldSpace_->prepareSpareRoom(bytes); }
  // The room asked for is written by now, or none is coming.
  bool oldSpaceRoomPrepared() { return oldSpace_->spareRoomReady(); }
  bool checkpointArmed() const { return armedPages_ != nullptr; }
  // Armed, and the copies prepareCheckpointCopies asked for are written by now (or none was).
  bool checkpointCopiesPrepared() const { return armedPages_ && armedPages_->preparingDone(); }
  // Armed, and its pages protected by now (the background job is done).
  bool checkpointArmingDone() const { return armedPages_ && armedPages_->armingDone(); }
  // A checkpoint that ended leaves its pages to be made writable on the PageReleaseThread
  // (WriteTracker::releaseInBackground); what protects pages itself or rewrites them
  // wholesale — a checkpoint, a snapshot, a full collection — waits for it first.
  void finishPageRelease() {
    if (releasingPages_) {
      releasingPages_->finishRelease();
      releasingPages_.reset();
    }
  }
  // For a program with nothing to run (called periodically while idle): gives the memory
  // it no longer uses back to the system. After activity it scavenges and releases the
  // pages of the empty nursery spaces; it collects fully instead (and then also releases
  // every free old-space run that covers a whole page) when old space has grown by
  // idleFullGcBytes() since the last full collection, or when something ran since a full
  // collection older than idleFullGcIntervalMillis — old objects that died without new
  // allocation are found only so. Does nothing, without a system call, when nothing ran
  // and no full collection is owed. Answers the bytes of address range released.
  size_t releaseMemoryWhileIdle();
  // The same in slices, for a caller that lets the program run between them (the hub's
  // releaser, System>>releaseMemorySlice): when the full collection owed has
  // incrementalMarkingMinBytes of live data or more to mark, a slice starts a marking, or
  // marks for at most maxMarkingStepMicros, and answers nullopt: call again. Once the
  // marking is done, the slice collects and releases as releaseMemoryWhileIdle does, in a
  // pause that only sweeps. (All at once, a GiB of live data held the program for over
  // 100 ms.)
  std::optional<size_t> releaseMemoryWhileIdleSlice();
  // A step bounded by its deadline, not by bytes.
  static constexpr size_t kUnboundedStepBytes = size_t(1) << 40;
  // Called at the program's heartbeat: a marking or a lazy sweep behind its pace catches
  // up there, a step (at most maxMarkingStepMicros) at most every
  // markingCatchUpIntervalMicros. In the hub, steps came only after scavenges (five a
  // second), each stopped at 2 ms short of its budget, and the collection that fell due
  // marked 134 ms in its pause.
  void collectAtHeartbeat() {
    if (marking_ && !markingDone_) {
      catchUpMarking();
    } else if (sweep_ != nullptr) [[unlikely]] {
      catchUpSweep();
    }
  }
  // Bytes the steps after scavenges and old allocations were to scan and did not (they
  // stopped at their deadline): what collectAtHeartbeat catches up.
  uint64_t markingDebtBytes() const { return markingDebtBytes_; }
  // Old space has grown four fifths of the way from the marking's start to its collection.
  bool markingLate() const { return marking_ && oldSpace_->allocatedSinceSweep() >= markingLateAt_; }
  // A full collection's sweep runs with the program (space/LazySweep.h): until it ends,
  // segments not yet swept hold dead objects and live objects' mark bits.
  bool sweeping() const { return sweep_ != nullptr; }
  const LazySweep* lazySweep() const { return sweep_.get(); }
  // Ends the lazy sweep, sweeping every segment left: what walks or records the heap
  // (forEachObject, the verifier, a census, a checkpoint or its arming, an image) calls it
  // first.
  void finishSweeping() {
    if (sweep_ != nullptr) finishSweepingNow();
  }
  // A step of the lazy sweep, as the program's steps take it: whole segments until
  // `budgetBytes` of them, at most maxMarkingStepMicros (at least one segment); answers
  // whether the sweep has ended (true when none runs).
  bool sweepStep(size_t budgetBytes);
  // Ends the lazy sweep in steps (sweepStep), calling `between` after each one that
  // leaves segments to sweep, so that the program runs there: what walks the heap in a
  // pause or just before one — an update's census and checkpoint, a snapshot's arming —
  // ends it this way first, rather than in one stretch the program waits for (finishing
  // a sweep at once held the hub 35-100 ms at 0.5-1.3 GiB).
  template <class F>
  void finishSweepingBetween(F&& between) {
    while (!sweepStep(kUnboundedStepBytes)) {
      if (sweepHeldBack()) {
        finishSweeping();  // the rest follows a snapshot's writer: waits for it
        return;
      }
      between();
    }
  }
  // Old-space growth since the last full collection beyond which releaseMemoryWhileIdle
  // collects fully: an eighth of the live data, at least 1 MiB.
  size_t idleFullGcBytes() const;
  // Bytes of the nursery and old segments that are resident in memory (mincore).
  size_t residentBytes() const;
  const GcStats& stats() const { return stats_; }
  GcStats& mutableStats() { return stats_; }
  // The pause of each of the last scavenges (the console's chart).
  const ScavengeLog& scavengeLog() const { return scavengeLog_; }

  HandleTable& handles() { return handles_; }
  // Objects watched without being kept alive (see WeakRegistry).
  WeakRegistry& weakRegistry() { return weak_; }
  LocalRootStack& localRoots() { return localRoots_; }
  void addRootProvider(RootProvider* p) { rootProviders_.push_back(p); }
  void removeRootProvider(RootProvider* p);
  // Tables of old objects kept weakly by the layers above (see WeakTable).
  void addWeakTable(WeakTable* t) { weakTables_.push_back(t); }
  void removeWeakTable(WeakTable* t);
  template <class F>
  void forEachRootProvider(F&& f) {
    for (RootProvider* p : rootProviders_) f(*p);
  }

  // Process stacks. The interpreter writes the active stack without a barrier, so it is
  // a root of every scavenge; when it stops being active it enters the remembered set.
  void registerStack(Oop stack);
  void setActiveStack(Oop stack);
  Oop activeStack() const { return activeStack_; }
  std::vector<Oop>& registeredStacks() { return stacks_; }

  RememberedSet& rememberedSet() { return rememberedSet_; }
  Nursery& nursery() { return *nursery_; }
  const Nursery& nursery() const { return *nursery_; }
  OldSpace& oldSpace() { return *oldSpace_; }
  const OldSpace& oldSpace() const { return *oldSpace_; }
  Reservation& reservation() { return *reservation_; }
  const Reservation& reservation() const { return *reservation_; }

  // Walks every object (not free chunks) in nursery and old space. The nursery holds free
  // chunks only as fillers that swapIdentities leaves behind objects that shrank.
  template <class F>
  void forEachObject(F&& f) {
    finishSweeping();
    forEachYoungObject(f);
    oldSpace_->forEachBlock([&](HeapObject* o) {
      if (o->classIndex() != reserved_class::kFreeChunk) f(o);
    });
  }
  // The same over the nursery alone: eden and the survivors, a few MiB.
  template <class F>
  void forEachYoungObject(F&& f) {
    auto walk = [&](uintptr_t from, uintptr_t to) {
      for (uintptr_t p = from; p < to;) {
        HeapObject* o = HeapObject::fromBlockStart(p);
        p += o->totalBytes();
        if (o->classIndex() != reserved_class::kFreeChunk) f(o);
      }
    };
    walk(nursery_->eden.start, nursery_->eden.top);
    walk(nursery_->fromSurvivor().start, nursery_->fromSurvivor().top);
  }

  // Visits every root slot outside the heap, and the special objects array itself.
  void visitRoots(RootVisitor& v);
  // Called by collectors and become so RootProviders can drop identity-keyed caches.
  void notifyBecome();

  // Threads a full collection of a large enough old space shares its work among (see
  // SpaceConfig::collectorThreads), the program's own included.
  unsigned collectorThreads() const;
  // The threads of the next full collection (null: the program's thread alone); they are
  // started at the first collection that shares its work.
  CollectorThreads* collectorThreadsForCollection();

  size_t youngBytesInUse() const { return nursery_->eden.used() + nursery_->fromSurvivor().used(); }

 private:
  friend class Scavenger;
  friend class MarkSweep;
  friend class Marker;
  friend class SpaceCheckpoint;
  friend class SpaceImage;

  // Throws HeapExhausted naming the limit.
  [[noreturn]] void heapExhausted() const;

  Oop initializeObject(uintptr_t block, ClassIndex cls, Format fmt, size_t slots) {
    HeapObject* o = HeapObject::initializeAt(block, cls, fmt, slots);
    if (formatHasPointers(fmt)) {
      Oop n = nil_;
      Oop* s = o->slots();
      for (size_t i = 0; i < slots; i++) s[i] = n;
    } else if (slots > 0) {
      std::memset(o->words(), 0, slots * 8);
    }
    return o->asOop();
  }
  Oop allocateSlow(ClassIndex cls, Format fmt, size_t slots, Tenure tenure);
  uintptr_t allocateOldBlock(size_t bytes);
  uint64_t activityMark() const;
  // What releaseMemoryWhileIdle owes: whether anything ran since its last call, and
  // whether a full collection is due (noting that one is owed once anything ran).
  struct IdleWork {
    bool active = false;
    bool full = false;
  };
  IdleWork idleWork();
  // What a full collection frees. Complete: everything dead when it starts (a marking in
  // progress is dropped; explicit requests, and an allocation that failed otherwise).
  // Finish: with a marking in progress, it marks only what the marking left, and frees
  // what was dead when the marking started; what died since may be left to the next
  // collection (the collections that fall due, and idle ones).
  enum class Precision { Finish, Complete };
  // When the sweep runs: in the collection's pause, or lazily (space/LazySweep.h, where
  // SpaceConfig::lazySweeping allows).
  enum class SweepTiming { Now, Lazily };
  // The full collection; free runs of releaseFreeBytes or more give their pages back.
  // Answers the bytes of range released (by the pause: a lazy sweep's come later).
  size_t collectGarbage(size_t releaseFreeBytes, Precision precision, SweepTiming timing = SweepTiming::Now);
  // releaseMemoryWhileIdle, its collection's sweep left to the slices when `timing` is
  // Lazily.
  size_t releaseMemoryWhileIdle(SweepTiming timing);
  // Old space has grown by fullCollectionThreshold since the last full collection: the
  // heap stays near twice the live data. While a snapshot holds the heap, it tells the
  // hold's `owed` (see holdPages), and answers whether the collection can run under the
  // hold (collectsUnderHold).
  bool fullCollectionDue();
  // A due collection may run while a snapshot holds the pages, without waiting for the
  // writer: the hold tells which pages the writer still needs, the sweep can be left to
  // follow it (lazy sweeping, no sweep left from an earlier one), nothing else holds the
  // heap (a checkpoint or its arming, a snapshot's arming), and old space is under the
  // heap limit (at it, the collection must free at once).
  bool collectsUnderHold() const;
  void bootstrap();
  void afterCollection();
  // The marking's part of the write barrier (see Marker.h), out of line: `value`, an old
  // object stored into `target`, is marked if `target` is old; a null `value` (a bulk
  // store) has an old `target` scanned again.
  [[gnu::noinline, gnu::cold]] void markStored(HeapObject* target, Oop value);
  // After a scavenge (having promoted `promotedBytes`) or an old allocation: starts an
  // incremental marking when one is due, or marks a step of the one in progress. Under an
  // active checkpoint (an update's pause) the step becomes debt, paid at the heartbeat
  // (catchUpMarking, which does nothing under a checkpoint either).
  void advanceMarking(size_t allocatedBytes);
  // No checkpoint, arming or become forbids a marking (see Marker.h), and it is enabled.
  bool markingAllowed() const;
  // Allowed, and old space has grown by half the threshold of the next full collection.
  bool markingDue() const;
  // Counts a step of `ns` wall time in which the thread used `usage`.
  void noteMarkingStep(uint64_t ns, const ThreadUsage& usage);
  // Bytes a marking scans for each byte old space grows while it runs: what finishes it
  // as the full collection falls due (set when it starts).
  size_t markBytesPerByte_ = 0;
  // See markingDebtBytes(); and allocatedSinceSweep() past which the marking is late (four
  // fifths of the way from its start to the collection), when it catches up at every
  // heartbeat interval whatever its debt. Both set when it starts.
  uint64_t markingDebtBytes_ = 0;
  size_t markingLateAt_ = 0;
  std::chrono::steady_clock::time_point lastCatchUpStep_{};
  void catchUpMarking();
  // The least a step after a scavenge or old allocation does (markingStepBytes; a 64th of
  // it in GC stress builds), for the marking and the lazy sweep alike.
  size_t minStepBytes() const;
  // A catch-up step at the heartbeat is due: markingCatchUpIntervalMicros have passed
  // since the last (which this one becomes).
  bool catchUpStepDue();
  // markStep (a marking runs), answering the bytes it scanned.
  uint64_t bytesScannedByStep(size_t budgetBytes);
  // Of the live data, the share the last full collection's marking scanned (objects
  // with references; bytes and words are only marked): how much work the next marking has.
  double scannedShare_ = 1.0;
  // The lazy sweep (space/LazySweep.h). After a scavenge (having promoted
  // `allocatedBytes`) or an old allocation: a step of it at its pace
  // (LazySweep::bytesPerByte); ends it when done.
  void advanceSweep(size_t allocatedBytes);
  // At the heartbeat: a step, once the sweep is behind (LazySweep::lateAt).
  void catchUpSweep();
  void finishSweepingNow();
  // Ends the arming (the checkpoint takes the tracker, or disarmCheckpoint drops it): old
  // space allocates as before it.
  std::unique_ptr<WriteTracker> takeArmedPages();
  // Once every segment is swept: the counts the sweep makes exact, the cold runs put
  // last, the bump area warmed (as after a sweep in the pause).
  void endSweep();
  // A stop-the-world collection drops the sweep left: its marks are cleared, and its own
  // sweep covers every segment again.
  void dropSweep();
  size_t idleSliceReleased_ = 0;  // released for the idle release, not answered by it yet
  void resizeEden();
  void followForwardersAfterBecome();
  void checkBecomeArgument(Oop o, const char* side, size_t index) const;
  // Clears the mark bits become's validation may have set on the objects named (those
  // that are objects of this space; the others are skipped).
  void clearBecomeMarks(std::span<const Oop> objects);
  // Under a checkpoint, saves the pages of the objects a become is about to write (their
  // headers and slots) in a few runs rather than a fault per page (SpaceCheckpoint::saveAhead).
  void saveAheadOfBecome(std::span<const Oop> a, std::span<const Oop> b);
  // Remembers `target` (old memory that just received contents) when it now references a
  // young object: the remembered-set invariant, without remembering every destination.
  void rememberIfHoldsYoung(HeapObject* target);

  SpaceConfig config_;
  std::unique_ptr<Reservation> reservation_;
  std::unique_ptr<Nursery> nursery_;
  std::unique_ptr<OldSpace> oldSpace_;
  ClassTable classTable_;
  SymbolTable symbols_;
  RememberedSet rememberedSet_;
  HandleTable handles_;
  WeakRegistry weak_;
  LocalRootStack localRoots_;
  std::vector<RootProvider*> rootProviders_;
  std::vector<WeakTable*> weakTables_;
  std::vector<Oop> stacks_;  // weak: dead stacks are dropped by the full collector
  Oop activeStack_;
  Oop nil_;
  Oop specialObjects_;
  uint32_t hashSeed_ = 0x2545F491u;
  bool collecting_ = false;
  // The full collector's mark bits, and the incremental marking in progress (null when
  // none runs; marking_ says so for the write barrier).
  std::unique_ptr<MarkBitmap> markBits_;
  std::unique_ptr<Marker> marker_;
  bool marking_ = false;
  bool markingDone_ = false;  // the marking had nothing left to scan (the barrier may grey more)
  // A become left forwarders in old space: the next full collection must stop the world
  // to replace the references to them (Marker.h), so no marking starts before it.
  bool forwardersLeft_ = false;
  SpaceCheckpoint* checkpoint_ = nullptr;
  std::function<void()> pagesHold_;               // see holdPages
  std::function<void()> pagesHoldOwed_;           // see holdPages: cleared once called
  bool bumpFirstBeforeHold_ = false;              // old space's setting, restored when the hold ends
  std::function<void()> snapshotDisarm_;          // see setSnapshotArming
  std::unique_ptr<WriteTracker> releasingPages_;  // see finishPageRelease
  std::unique_ptr<WriteTracker> armedPages_;      // see armCheckpoint
  bool bumpFirstBeforeArming_ = false;            // old space's allocation order before it
  std::unique_ptr<InstanceCensus> census_;        // see openCensus
  std::unique_ptr<LazySweep> sweep_;              // see sweeping(); after oldSpace_, which it points into
  // See holdPages: whether the hold's writer still needs a range, or empty.
  std::function<bool(uintptr_t, uintptr_t)> pagesHoldCaptured_;
  // See collectorThreadsForCollection.
  std::unique_ptr<CollectorThreads> collectorThreads_;
  uint64_t stressAllocations_ = 0;
  // activityMark() when releaseMemoryWhileIdle last finished: the same mark and an empty
  // eden mean nothing ran since.
  uint64_t idleQuietMark_ = UINT64_MAX;
  // Something ran since the last full collection (so old objects may have died).
  bool idleFullCollectionOwed_ = false;
  std::chrono::steady_clock::time_point lastFullCollection_ = std::chrono::steady_clock::now();
  ClassIndex arrayClassIndex_ = reserved_class::kInvalid;
  GcStats stats_;
  ScavengeLog scavengeLog_;
};

}  // namespace space
