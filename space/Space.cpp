// Space: construction, slow-path allocation, collection scheduling, roots and hashes.
#include "space/Space.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "space/CollectorThreads.h"
#include "space/MarkSweep.h"
#include "space/MonotonicClock.h"
#include "space/Scavenger.h"

namespace space {

namespace {
constexpr size_t kOldSpaceAlignment = size_t(2) << 20;
}  // namespace

Space::Space(const SpaceConfig& config) : config_(config), classTable_(*this), symbols_(*this) {
  reservation_ = std::make_unique<Reservation>(config_.reservationBytes, config_.preferredBase);
  nursery_ = std::make_unique<Nursery>(*reservation_, config_.edenBytes,
                                       std::min(config_.minEdenBytes, config_.edenBytes), config_.survivorBytes);
  uintptr_t oldStart = (nursery_->end() + kOldSpaceAlignment - 1) & ~(kOldSpaceAlignment - 1);
  oldSpace_ = std::make_unique<OldSpace>(*reservation_, oldStart, config_.maxOldBytes);
  markBits_ = std::make_unique<MarkBitmap>(reservation_->base(), reservation_->size());
  bootstrap();
  oldSpace_->keepSpareSegment(config_.warmSpareSegment);
}

Space::Space(const SpaceConfig& config, ForImage) : config_(config), classTable_(*this), symbols_(*this) {
  reservation_ = std::make_unique<Reservation>(config_.reservationBytes, config_.preferredBase);
  nursery_ = std::make_unique<Nursery>(*reservation_, config_.edenBytes,
                                       std::min(config_.minEdenBytes, config_.edenBytes), config_.survivorBytes);
  uintptr_t oldStart = (nursery_->end() + kOldSpaceAlignment - 1) & ~(kOldSpaceAlignment - 1);
  oldSpace_ = std::make_unique<OldSpace>(*reservation_, oldStart, config_.maxOldBytes);
  markBits_ = std::make_unique<MarkBitmap>(reservation_->base(), reservation_->size());
}

Space::~Space() {
  disarmCheckpoint();
  finishPageRelease();  // its thread changes the protection of this space's pages
}

void Space::armCheckpoint() {
  if (armedPages_ || checkpoint_ || pagesHold_ || collecting_) return;
  finishSweeping();  // it writes free chunks into the pages armed, and the checkpoint records them
  finishPageRelease();
  // Room, above every range the checkpoint will track, for the objects made under it
  // (SpaceCheckpoint allocates bump first), faulted in ahead rather than in the pause.
  MemoryRange bumpArea;
  if (oldSpace_->reserveBumpArea(kCheckpointBumpBytes + Reservation::kPageSize)) {
    oldSpace_->alignBumpAreaToPage();
    uintptr_t start = oldSpace_->reserveBumpArea(kCheckpointBumpBytes);
    bumpArea = MemoryRange{start, start + kCheckpointBumpBytes};
  }
  // Both on the PageReleaseThread while the space runs on: it waits only at the pause,
  // and only if the job is not done by then.
  std::vector<MemoryRange> all = objectRanges();
  std::vector<MemoryRange> ranges = census_ ? withoutRuns(all, census_->pageRunsFound()) : all;
  armedPages_ = std::make_unique<WriteTracker>(ranges, WriteTracker::Armed{true, bumpArea, pagesNotIn(all, ranges)});
  bumpFirstBeforeArming_ = oldSpace_->bumpFirst();
  oldSpace_->setBumpFirst(true);
  oldSpace_->setGrowBeforeReuse(true);
}

std::unique_ptr<WriteTracker> Space::takeArmedPages() {
  if (armedPages_) {
    oldSpace_->setBumpFirst(bumpFirstBeforeArming_);
    oldSpace_->setGrowBeforeReuse(false);
  }
  return std::move(armedPages_);
}

std::vector<MemoryRange> Space::pagesNotIn(const std::vector<MemoryRange>& ranges,
                                           const std::vector<MemoryRange>& kept) {
  std::vector<MemoryRange> out;
  size_t next = 0;
  for (MemoryRange m : ranges) {
    uintptr_t from = m.start;
    for (; next < kept.size() && kept[next].start < m.end; next++) {
      if (kept[next].start > from) out.push_back({from, kept[next].start});
      from = std::max(from, kept[next].end);
    }
    if (from < m.end) out.push_back({from, m.end});
  }
  return out;
}

std::vector<MemoryRange> Space::withoutRuns(const std::vector<MemoryRange>& ranges,
                                            const std::vector<std::pair<uintptr_t, uintptr_t>>& runs) {
  std::vector<MemoryRange> out;
  size_t left = kMaxUnprotectedRuns;
  size_t next = 0;  // runs are in address order, and so are the ranges
  for (MemoryRange m : ranges) {
    uintptr_t from = m.start;
    for (; next < runs.size() && runs[next].first < m.end; next++) {
      auto [start, end] = runs[next];
      if (end <= from || end - start < kMinUnprotectedRunBytes) continue;
      bool goesOn = start < m.start;  // began in an earlier range, and was counted there
      if (!goesOn && left == 0) continue;
      if (!goesOn) left--;
      if (start > from) out.push_back({from, start});
      from = std::min(end, m.end);
      if (end > m.end) break;  // goes on into the next range
    }
    if (from < m.end) out.push_back({from, m.end});
  }
  return out;
}

std::vector<MemoryRange> Space::objectRanges() const {
  auto pagesOf = [](uintptr_t start, uintptr_t top) {
    return MemoryRange{start & ~(Reservation::kPageSize - 1), Reservation::roundUpToPage(top)};
  };
  std::vector<MemoryRange> ranges;
  ranges.push_back(pagesOf(nursery_->eden.start, nursery_->eden.top));
  ranges.push_back(pagesOf(nursery_->fromSurvivor().start, nursery_->fromSurvivor().top));
  for (auto [start, end] : oldSpace_->occupiedRanges()) ranges.push_back(MemoryRange{start, end});
  return ranges;
}

// Creates the objects every space has before any class exists: nil, true, false, the
// special objects array, the class table and the symbol table. Their class indexes are
// filled in by the VM once it has created the corresponding classes.
void Space::bootstrap() {
  auto makeOld = [&](Format fmt, size_t slots) {
    uintptr_t block = oldSpace_->allocateBlock(HeapObject::wordsForSlots(slots) * 8);
    if (block == 0) throw HeapExhausted("cannot bootstrap space '" + config_.name + "'");
    HeapObject* o = HeapObject::initializeAt(block, reserved_class::kInvalid, fmt, slots);
    std::memset(o->words(), 0, std::max<size_t>(slots, 1) * 8);
    return o->asOop();
  };
  nil_ = makeOld(Format::Empty, 0);
  Oop t = makeOld(Format::Empty, 0);
  Oop f = makeOld(Format::Empty, 0);
  specialObjects_ = makeOld(Format::Indexable, special::kArraySize);
  Oop* s = specialObjects_.object()->slots();
  for (size_t i = 0; i < special::kArraySize; i++) s[i] = nil_;
  s[special::kNil] = nil_;
  s[special::kTrue] = t;
  s[special::kFalse] = f;
  classTable_.initialize(1024);
  symbols_.initialize(4096);
}

void Space::removeRootProvider(RootProvider* p) {
  rootProviders_.erase(std::remove(rootProviders_.begin(), rootProviders_.end(), p), rootProviders_.end());
}

void Space::removeWeakTable(WeakTable* t) {
  weakTables_.erase(std::remove(weakTables_.begin(), weakTables_.end(), t), weakTables_.end());
}

uint32_t Space::identityHash(Oop o) {
  if (o.isSmallInteger()) return uint32_t(uint64_t(o.smallInteger()) & HeapObject::kHashMask);
  if (o.isCharacter()) return o.character() & uint32_t(HeapObject::kHashMask);
  if (o.isSmallFloat()) return uint32_t((o.bits() >> 3) ^ (o.bits() >> 29)) & uint32_t(HeapObject::kHashMask);
  HeapObject* obj = follow(o).object();
  uint32_t h = obj->rawHash();
  if (h == 0) {
    do {
      // xorshift32: cheap, and its low 22 bits are well mixed.
      hashSeed_ ^= hashSeed_ << 13;
      hashSeed_ ^= hashSeed_ >> 17;
      hashSeed_ ^= hashSeed_ << 5;
      h = hashSeed_ & uint32_t(HeapObject::kHashMask);
    } while (h == 0);
    obj->setRawHash(h);
  }
  return h;
}

Oop Space::shallowCopy(Oop original, Tenure tenure) {
  LocalRoot keep(localRoots_, original);
  HeapObject* o = original.object();
  size_t slots = o->slotCount();
  Oop copy = allocate(o->classIndex(), o->format(), slots, tenure);
  HeapObject* src = keep.get().object();
  HeapObject* dst = copy.object();
  if (slots > 0) std::memcpy(dst->words(), src->words(), slots * 8);
  if (formatHasPointers(src->format())) rememberIfOld(dst);
  return copy;
}

Oop Space::allocateSlow(ClassIndex cls, Format fmt, size_t slots, Tenure tenure) {
  if (collecting_) throw std::logic_error("allocation during a collection");
  if (slots > HeapObject::kMaxSlots) throw HeapExhausted("object too large");
  size_t bytes = HeapObject::wordsForSlots(slots) * 8;
  if (config_.gcStress) {
    if (++stressAllocations_ % 64 != 0 || !collectDueGarbage()) scavenge();
  }
  if (tenure == Tenure::Young && bytes < config_.largeObjectBytes) {
    BumpRegion& eden = nursery_->eden;
    if (eden.top + bytes > eden.end) scavenge();
    if (eden.top + bytes <= eden.end) {
      uintptr_t p = eden.top;
      eden.top += bytes;
      return initializeObject(p, cls, fmt, slots);
    }
  }
  uintptr_t block = allocateOldBlock(bytes);
  stats_.bytesAllocatedOld += bytes;
  // A large object is written whole at once: one call faults its pages in, not a trap each.
  if (bytes >= kOldObjectRunBytes) reservation_->populate(block, bytes);
  return initializeObject(block, cls, fmt, slots);
}

size_t Space::fullCollectionThreshold(size_t liveBytes) const {
  return std::max(config_.minFullGcBytes, liveBytes / 2);
}

bool Space::fullCollectionDue() {
  bool due = oldSpace_->allocatedSinceSweep() > fullCollectionThreshold(oldSpace_->liveBytesAtLastSweep());
  if (!snapshotHoldsHeap() || !due) return due;
  // Either way the writer is told: until it is done, old space takes fresh memory for
  // what it holds.
  if (pagesHoldOwed_) std::exchange(pagesHoldOwed_, nullptr)();
  // The collection runs under the hold if it can; if not, old space grows past the
  // threshold, and only an allocation that fails, or promotion past the heap limit,
  // collects (collectGarbage), once the writer is done.
  return collectsUnderHold();
}

bool Space::collectsUnderHold() const {
  return pagesHold_ && pagesHoldCaptured_ && config_.lazySweeping && sweep_ == nullptr && !checkpoint_ &&
         !armedPages_ && !snapshotDisarm_ && oldSpace_->committedBytes() < config_.maxOldBytes;
}

bool Space::sweepHeldBack() const {
  return sweep_ != nullptr && sweep_->heldBack();
}

uintptr_t Space::allocateOldBlock(size_t bytes) {
  if (fullCollectionDue()) {
    collectDueGarbage();
  } else if (marking_) {
    advanceMarking(bytes);
  }
  uintptr_t block = oldSpace_->allocateBlock(bytes);
  // Out of room: a lazy sweep is finished, or a marking in progress; failing that, every
  // dead object is freed before the heap is declared exhausted.
  if (block == 0 && sweep_ != nullptr) {  // a lazy sweep leaves allocation a few segments a step
    finishSweeping();
    block = oldSpace_->allocateBlock(bytes);
  }
  if (block == 0 && marking_ && collectDueGarbage()) block = oldSpace_->allocateBlock(bytes);
  if (block == 0 && collectGarbage()) block = oldSpace_->allocateBlock(bytes);
  if (block == 0) heapExhausted();
  if (sweep_ != nullptr) advanceSweep(bytes);
  return block;
}

bool Space::markingAllowed() const {
  // measureLive collects completely after every scavenge: a marking would only be dropped.
  return config_.incrementalMarking && !config_.measureLive && !checkpoint_ && !armedPages_ && !forwardersLeft_ &&
         !collecting_;
}

bool Space::markingDue() const {
  if (!markingAllowed()) return false;
  if (config_.gcStress) return true;
  size_t live = oldSpace_->liveBytesAtLastSweep();
  if (live < config_.incrementalMarkingMinBytes) return false;
  return oldSpace_->allocatedSinceSweep() >= fullCollectionThreshold(live) / 2;
}

size_t Space::minStepBytes() const {
  return config_.gcStress ? config_.markingStepBytes / 64 : config_.markingStepBytes;
}

bool Space::catchUpStepDue() {
  auto now = std::chrono::steady_clock::now();
  if (now - lastCatchUpStep_ < std::chrono::microseconds(config_.markingCatchUpIntervalMicros)) return false;
  lastCatchUpStep_ = now;
  return true;
}

void Space::advanceMarking(size_t allocatedBytes) {
  if (!marking_) {
    if (markingDue()) startMarking();
    return;
  }
  size_t budget = std::max(minStepBytes(), allocatedBytes * markBytesPerByte_);
  // In an update's pause (a checkpoint is active) the step is owed, and paid at the
  // heartbeats after it: a method's install allocates four old objects, and their steps
  // held the pause 0.9-1.2 ms in the hub.
  if (checkpoint_) {
    if (!markingDone_) markingDebtBytes_ += budget;
    return;
  }
  uint64_t scanned = bytesScannedByStep(budget);
  if (!markingDone_ && scanned < budget) markingDebtBytes_ += budget - scanned;
}

void Space::catchUpMarking() {
  if (checkpoint_) return;  // in an update's pause: see advanceMarking
  bool late = markingLate();
  if ((markingDebtBytes_ == 0 && !late) || !catchUpStepDue()) return;
  uint64_t scanned = bytesScannedByStep(late ? kUnboundedStepBytes : markingDebtBytes_);
  markingDebtBytes_ -= std::min(markingDebtBytes_, scanned);
}

bool Space::startMarking() {
  if (marking_) return true;
  // A sweep that follows a snapshot's writer ends with it: a marking starts after.
  if (!markingAllowed() || sweepHeldBack()) return false;
  finishSweeping();  // (paced to have ended long before) the marks left would pass as this marking's
  auto start = std::chrono::steady_clock::now();
  ThreadUsage usageBefore = ThreadUsage::now();
  // Everything in old space may be live: scan its share with references before old space
  // grows by the rest of the threshold (a quarter faster, to finish a little before).
  size_t live = oldSpace_->liveBytesAtLastSweep(), grown = oldSpace_->allocatedSinceSweep();
  size_t threshold = fullCollectionThreshold(live);
  size_t headroom = threshold > grown ? threshold - grown : 1;
  double work = double(live + grown) * scannedShare_ * 1.25;
  markBytesPerByte_ = size_t(work / double(headroom)) + 1;
  markingDebtBytes_ = 0;
  markingLateAt_ = grown + headroom / 5 * 4;
  marker_ = std::make_unique<Marker>(*this, *markBits_, Marker::Mode::Incremental);
  marking_ = true;
  markingDone_ = false;
  marker_->greyRoots();
  stats_.incrementalMarkings++;
  noteMarkingStep(nanosSince(start), ThreadUsage::now().since(usageBefore));
  return true;
}

uint64_t Space::bytesScannedByStep(size_t budgetBytes) {
  uint64_t before = marker_->scannedBytes();
  markStep(budgetBytes);
  return marker_->scannedBytes() - before;
}

bool Space::markStep(size_t budgetBytes) {
  if (!marking_) return false;
  if (markingDone_ && marker_->empty()) return true;  // until the barrier greys more
  auto start = std::chrono::steady_clock::now();
  ThreadUsage usageBefore = ThreadUsage::now();
  markingDone_ = marker_->step(budgetBytes, start + std::chrono::microseconds(config_.maxMarkingStepMicros));
  noteMarkingStep(nanosSince(start), ThreadUsage::now().since(usageBefore));
  return markingDone_;
}

void Space::noteMarkingStep(uint64_t ns, const ThreadUsage& usage) {
  stats_.markingSteps++;
  stats_.markingStepNanos += ns;
  stats_.markingStepCpuNanos += usage.cpuNanos;
  if (ns >= stats_.maxMarkingStepNanos) {
    stats_.maxMarkingStepNanos = ns;
    stats_.longestMarkingStep = usage;
  }
}

void Space::markStored(HeapObject* target, Oop value) {
  if (isYoung(target)) return;  // scanned once promoted
  if (value.isNull()) {
    marker_->rescan(target);
  } else {
    marker_->greyValue(value);
  }
}

void Space::advanceSweep(size_t allocatedBytes) {
  sweep_->allowDemand();
  if (!sweep_->done()) {
    sweepStep(std::max(minStepBytes(), allocatedBytes * sweep_->bytesPerByte()));
  } else {
    endSweep();  // allocation swept the last segment
  }
}

void Space::catchUpSweep() {
  if (oldSpace_->allocatedSinceSweep() < sweep_->lateAt() || !catchUpStepDue()) return;
  sweepStep(kUnboundedStepBytes);
}

bool Space::sweepStep(size_t budgetBytes) {
  if (sweep_ == nullptr) return true;
  auto start = std::chrono::steady_clock::now();
  if (!sweep_->step(budgetBytes, start + std::chrono::microseconds(config_.maxMarkingStepMicros))) return false;
  endSweep();
  return true;
}

void Space::finishSweepingNow() {
  if (collecting_) throw std::logic_error("a lazy sweep finished during a collection");
  if (!sweep_->done()) stats_.lazySweepsFinishedAtOnce++;
  sweep_->step(SIZE_MAX, std::chrono::steady_clock::time_point::max());
  if (!sweep_->done()) {  // it met a segment a snapshot's writer still needs: wait for the writer
    waitForPagesHold();
    sweep_->step(SIZE_MAX, std::chrono::steady_clock::time_point::max());
  }
  endSweep();
}

void Space::endSweep() {
  ESPELL_ASSERT(sweep_->done(), "a lazy sweep ended with segments left");
  ESPELL_ASSERT(!markBits_->anyMarked(), "a mark bit outlived the lazy sweep");
  markBits_->noteCleared();  // every marked object was unmarked as its segment was swept
  oldSpace_->appendColdChunks();
  size_t live = sweep_->liveBytes();
  oldSpace_->correctLiveBytes(live);
  stats_.peakLiveBytes = std::max<uint64_t>(stats_.peakLiveBytes, live);
  scannedShare_ = std::min(1.0, double(sweep_->scannedBytes()) / double(std::max<size_t>(1, live)));
  stats_.lazySweeps++;
  stats_.lazySweepNanos += sweep_->nanos();
  stats_.maxLazySweepStepNanos = std::max(stats_.maxLazySweepStepNanos, sweep_->longestNanos());
  if (sweep_->forIdleRelease()) {
    stats_.idleReleasedBytes += sweep_->releasedBytes();
    idleSliceReleased_ += sweep_->releasedBytes();
  }
  sweep_.reset();
  oldSpace_->warmBumpArea();
}

void Space::dropSweep() {
  sweep_.reset();
  markBits_->clear();  // the marks of the segments left
  stats_.droppedLazySweeps++;
}

void Space::abandonMarking() {
  if (!marker_) return;
  marker_.reset();
  marking_ = false;
  markingDone_ = false;
  markBits_->clear();
  stats_.abandonedMarkings++;
}

void Space::heapExhausted() const {
  throw HeapExhausted("heap of space '" + config_.name + "' exhausted (limit " +
                      std::to_string(config_.maxOldBytes >> 20) + " MiB)" +
                      (checkpoint_ ? " while a checkpoint forbids a full collection" : ""));
}

void Space::visitRoots(RootVisitor& v) {
  v.visit(specialObjects_);
  handles_.forEach([&](Oop& slot) { v.visit(slot); });
  localRoots_.forEach([&](Oop& slot) { v.visit(slot); });
  for (RootProvider* p : rootProviders_) p->visitRoots(v);
}

void Space::scavenge() {
  if (collecting_) throw std::logic_error("nested collection");
  collecting_ = true;
  auto start = std::chrono::steady_clock::now();
  ThreadUsage usageBefore = ThreadUsage::now();
  size_t limitBefore = oldSpace_->maxBytes();
  uint64_t promotedBefore = stats_.bytesPromoted;
  if (sweep_ != nullptr) sweep_->allowDemand(0);  // promotion takes swept or fresh memory
  if (armedPages_) {
    // It writes the header of every survivor in eden and the survivor space it empties,
    // whose contents then die: writable in one call each, not a fault a page.
    armedPages_->markWritten({nursery_->eden.start, nursery_->eden.top});
    armedPages_->markWritten({nursery_->fromSurvivor().start, nursery_->fromSurvivor().top});
  }
  Scavenger(*this, TenureAll::No).run();
  bool promotedPastLimit = oldSpace_->maxBytes() > limitBefore;
  uint64_t ns = nanosSince(start);
  ThreadUsage usage = ThreadUsage::now().since(usageBefore);
  collecting_ = false;
  stats_.scavenges++;
  stats_.scavengeNanos += ns;
  stats_.lastScavengeNanos = ns;
  stats_.scavengeCpuNanos += usage.cpuNanos;
  if (ns >= stats_.maxScavengeNanos) {
    stats_.maxScavengeNanos = ns;
    stats_.longestScavenge = usage;
  }
  auto end = start.time_since_epoch() + std::chrono::nanoseconds(ns);
  scavengeLog_.record(std::chrono::duration_cast<std::chrono::microseconds>(end).count(), ns);
  // Shrinking eden drops pages that a checkpoint may restore, or that a snapshot has not written yet.
  if (!checkpoint_ && !pagesHold_) resizeEden();
  afterCollection();
  if (sweep_ != nullptr) advanceSweep(stats_.bytesPromoted - promotedBefore);
  advanceMarking(stats_.bytesPromoted - promotedBefore);
  // Promotion grows old space; collect it once it has grown enough. A marking that has
  // marked everything waits for that too (or for an idle release): finished at once, it
  // collected sooner than the program needed, its sweep under load.
  bool collected = (promotedPastLimit || config_.measureLive || fullCollectionDue()) &&
                   (config_.measureLive ? collectGarbage() : collectDueGarbage());
  // The scavenge had to promote beyond the heap limit (it cannot stop half-way). Now that
  // the heap is consistent again, fail the allocation that asked for it if the live data
  // itself is over the limit; otherwise promotion would go on raising the limit.
  if (promotedPastLimit && (!collected || oldSpace_->liveBytesAtLastSweep() > config_.maxOldBytes)) heapExhausted();
}

bool Space::collectGarbage() {
  if (checkpoint_) return false;
  collectGarbage(MarkSweep::kReleaseFreeBytes, Precision::Complete);
  return true;
}

bool Space::collectDueGarbage() {
  if (checkpoint_) return false;
  collectGarbage(MarkSweep::kReleaseFreeBytes, Precision::Finish, SweepTiming::Lazily);
  return true;
}

size_t Space::collectGarbage(size_t releaseFreeBytes, Precision precision, SweepTiming timing) {
  if (collecting_) throw std::logic_error("nested collection");
  // A due collection under a snapshot's hold: its sweep follows the writer (holdPages).
  bool underHold = precision == Precision::Finish && timing == SweepTiming::Lazily &&
                   releaseFreeBytes == MarkSweep::kReleaseFreeBytes && collectsUnderHold();
  if (precision == Precision::Complete) abandonMarking();
  dropCensus();  // the sweep frees and coalesces what the census walked
  if (!underHold) waitForPagesHold();
  finishPageRelease();
  // A checkpoint or a snapshot armed ahead of its pause would record old space whole in
  // that pause, a lazy sweep's rest included: armed, the sweep runs now, as it would have.
  if (armedPages_ || snapshotDisarm_) timing = SweepTiming::Now;
  disarmCheckpoint();  // segments may be released and their addresses reused
  if (snapshotDisarm_) std::exchange(snapshotDisarm_, nullptr)();
  oldSpace_->waitForBumpAreaWarming();  // the sweep rewrites and releases free memory
  collecting_ = true;
  auto start = std::chrono::steady_clock::now();
  Scavenger(*this, TenureAll::Yes).run();  // greys what it promotes if a marking runs
  rememberedSet_.clear();                  // nothing is young any more
  std::unique_ptr<Marker> incremental = std::move(marker_);
  marking_ = false;
  markingDone_ = false;
  ESPELL_ASSERT(incremental == nullptr || sweep_ == nullptr, "a marking ran while a lazy sweep was left");
  if (sweep_ != nullptr) dropSweep();
  // An idle release gives back every free page; a collection while the program runs keeps
  // what it will allocate from next.
  MarkSweep sweeper(*this, releaseFreeBytes, collectorThreadsForCollection(),
                    /*keepNextCycle=*/releaseFreeBytes == MarkSweep::kReleaseFreeBytes);
  sweeper.mark(incremental.get());
  if (incremental) stats_.incrementalCollections++;
  incremental.reset();
  forwardersLeft_ = false;  // the marking replaced every reference to a forwarder
  bool lazily = underHold || (timing == SweepTiming::Lazily && config_.lazySweeping &&
                              (oldSpace_->committedBytes() >= config_.lazySweepMinBytes || config_.gcStress));
  if (lazily) {
    sweep_ = std::make_unique<LazySweep>(*this, sweeper);
  } else {
    sweeper.sweep();
    scannedShare_ =
        std::min(1.0, double(sweeper.scannedBytes()) / double(std::max<size_t>(1, oldSpace_->liveBytesAtLastSweep())));
    oldSpace_->warmBumpArea();
  }
  stats_.fullCollectionMarkNanos += sweeper.markNanos();
  stats_.fullCollectionSweepNanos += sweeper.sweepNanos();
  stats_.fullCollectionReleaseNanos += sweeper.releaseNanos();
  // A promotion may have raised the limit temporarily; restore it (never below what is
  // still committed, so live data is not declared over the limit retroactively).
  oldSpace_->setMaxBytes(std::max(config_.maxOldBytes, oldSpace_->committedBytes()));
  lastFullCollection_ = std::chrono::steady_clock::now();
  idleFullCollectionOwed_ = false;
  uint64_t ns = nanosSince(start);
  collecting_ = false;
  stats_.fullCollections++;
  stats_.fullCollectionNanos += ns;
  stats_.maxFullCollectionNanos = std::max(stats_.maxFullCollectionNanos, ns);
  afterCollection();
  return sweeper.releasedBytes();
}

unsigned Space::collectorThreads() const {
  if (config_.collectorThreads != 0) return config_.collectorThreads;
  return std::min(CollectorThreads::availableProcessors(), SpaceConfig::kMaxCollectorThreads);
}

CollectorThreads* Space::collectorThreadsForCollection() {
  if (oldSpace_->committedBytes() < config_.parallelCollectionBytes) return nullptr;
  if (!collectorThreads_) {
    unsigned threads = collectorThreads();
    if (threads <= 1) return nullptr;
    collectorThreads_ = std::make_unique<CollectorThreads>(threads - 1);
  }
  return collectorThreads_.get();
}

void Space::holdPages(PagesHold hold) {
  if (!pagesHold_) {
    bumpFirstBeforeHold_ = oldSpace_->bumpFirst();
    oldSpace_->setBumpFirst(true);
  }
  pagesHold_ = std::move(hold.finish);
  pagesHoldOwed_ = std::move(hold.owed);
  pagesHoldCaptured_ = std::move(hold.captured);
}

void Space::releasePagesHold() {
  if (!pagesHold_) return;
  pagesHold_ = nullptr;
  pagesHoldOwed_ = nullptr;
  pagesHoldCaptured_ = nullptr;
  oldSpace_->setBumpFirst(bumpFirstBeforeHold_);
}

MemoryRange Space::preparePromotionArea() {
  size_t bytes = nursery_->eden.capacity() + nursery_->fromSurvivor().capacity();
  uintptr_t start = oldSpace_->reserveBumpArea(bytes);
  if (start == 0) return MemoryRange{0, 0};
  return MemoryRange{start & ~(Reservation::kPageSize - 1), Reservation::roundUpToPage(start + bytes)};
}

size_t Space::idleFullGcBytes() const {
  return std::max(size_t(1) << 20, oldSpace_->liveBytesAtLastSweep() / 8);
}

// Activity: collections and direct old allocations so far. Any young allocation shows in
// eden (a scavenge empties it but counts itself), any promotion in the scavenge count.
uint64_t Space::activityMark() const {
  return stats_.scavenges + stats_.fullCollections + stats_.bytesAllocatedOld;
}

Space::IdleWork Space::idleWork() {
  IdleWork w;
  w.active = nursery_->eden.used() > 0 || activityMark() != idleQuietMark_;
  // Whatever ran may have dropped references to old objects; only a full collection finds
  // them, so one is owed until it happens.
  if (w.active) idleFullCollectionOwed_ = true;
  w.full = idleFullCollectionOwed_ && (oldSpace_->allocatedSinceSweep() >= idleFullGcBytes() ||
                                       std::chrono::steady_clock::now() - lastFullCollection_ >=
                                           std::chrono::milliseconds(config_.idleFullGcIntervalMillis));
  if (marking_) w.full = true;              // idle time is the best time to finish it
  if (snapshotHoldsHeap()) w.full = false;  // the collection can wait
  return w;
}

std::optional<size_t> Space::releaseMemoryWhileIdleSlice() {
  if (sweep_ != nullptr) {  // a sweep left to run (the last slice's collection's, or a due one's) goes on
    bool forIdleRelease = sweep_->forIdleRelease();
    // The rest of a sweep that follows a snapshot's writer waits for it: nothing to do now.
    if (!sweepStep(kUnboundedStepBytes)) return sweepHeldBack() ? std::optional<size_t>(0) : std::nullopt;
    if (forIdleRelease) return std::exchange(idleSliceReleased_, 0);
  }
  if (!marking_) {  // (none runs under a checkpoint, and none starts)
    bool markFirst = oldSpace_->liveBytesAtLastSweep() >= config_.incrementalMarkingMinBytes || config_.gcStress;
    if (markFirst && idleWork().full && startMarking()) return std::nullopt;
  } else if (!markStep(kUnboundedStepBytes)) {
    return std::nullopt;
  }
  size_t released = releaseMemoryWhileIdle(SweepTiming::Lazily);
  if (sweep_ == nullptr) return released;
  idleSliceReleased_ = released;  // and, when the slices have swept, what the sweep released
  return std::nullopt;
}

size_t Space::releaseMemoryWhileIdle() {
  return releaseMemoryWhileIdle(SweepTiming::Now);
}

size_t Space::releaseMemoryWhileIdle(SweepTiming timing) {
  if (checkpoint_) return 0;  // collections and released pages would escape the checkpoint
  // Released by the sweeps of earlier slices (counted in the stats then), not answered yet.
  size_t owed = std::exchange(idleSliceReleased_, 0);
  if (timing == SweepTiming::Now && !pagesHold_) {
    finishSweeping();  // idle time is the time for it (not, under a snapshot's hold, to wait for the writer)
    owed += std::exchange(idleSliceReleased_, 0);
  }
  auto [active, full] = idleWork();
  if (!active && !full) return owed;
  size_t released = 0;
  if (full) {
    // Every free run that covers a page gives it back, not only the large ones, and the
    // copies a large update's checkpoint kept for the next one go too.
    released += collectGarbage(MarkSweep::kReleaseEveryPage, Precision::Finish, timing);
    WriteTracker::releaseSpareChunks(1);
  } else {
    scavenge();
  }
  if (!pagesHold_) released += nursery_->releaseUnusedPages(*reservation_);  // see holdPages
  stats_.idleReleases++;
  stats_.idleReleasedBytes += released;
  idleQuietMark_ = activityMark();
  return owed + released;
}

size_t Space::residentBytes() const {
  size_t total = Reservation::residentBytes(nursery_->start(), nursery_->end());
  for (const Segment& seg : oldSpace_->segments()) total += Reservation::residentBytes(seg.start, seg.end);
  return total;
}

// Sizes eden to half the live data (an upper-bound estimate: old live at the last full
// collection, plus what was promoted since, plus the survivors), within [minEdenBytes,
// edenBytes], rounded to the nearest whole huge page (eden is backed by them, so a partial
// one would be resident anyway). Programs with little live data stay small; programs with much of it
// scavenge less often (and promote less garbage). With a full collection once old space
// has grown by half its live size, the heap stays near twice the live data.
void Space::resizeEden() {
  size_t live = oldSpace_->liveBytesAtLastSweep() + oldSpace_->allocatedSinceSweep() + nursery_->fromSurvivor().used();
  size_t minEden = std::min(config_.minEdenBytes, config_.edenBytes);
  size_t target = live / 2;
  constexpr size_t kGrain = Reservation::kHugePageSize;
  if (target >= kGrain) target = (target + kGrain / 2) & ~(kGrain - 1);
  target = std::clamp(target, minEden, config_.edenBytes);
  if (target != nursery_->eden.capacity()) nursery_->setEdenLimit(target, *reservation_);
}

void Space::afterCollection() {
  // Old space never moves objects, but a swap may have replaced the table array.
  classTable_.reattach();
  weak_.reportDeaths();
}

void Space::setArrayClassIndex(ClassIndex i) {
  arrayClassIndex_ = i;
  for (size_t slot : {special::kClassTable, special::kSymbolTable}) {
    specialObject(slot).object()->setClassIndex(i);
  }
  specialObjects_.object()->setClassIndex(i);
}

void Space::registerStack(Oop stack) {
  stacks_.push_back(stack);
}

void Space::setActiveStack(Oop stack) {
  if (!activeStack_.isNull() && activeStack_ != stack) {
    // The stack was written without a barrier while active: assume it holds young refs.
    rememberIfOld(activeStack_.object());
  }
  activeStack_ = stack;
}

void Space::notifyBecome() {
  for (RootProvider* p : rootProviders_) p->afterBecome();
}

void Space::openCensus(std::vector<ClassIndex> classes) {
  census_.reset();   // one allocation watch at a time
  finishSweeping();  // the census walks every segment
  census_ = std::make_unique<InstanceCensus>(*oldSpace_, std::move(classes));
}

bool Space::censusStep(std::chrono::microseconds budget) {
  return census_ == nullptr || census_->step(budget);
}

void Space::forEachInstanceOf(ClassIndex c, const std::function<void(HeapObject*)>& f) {
  if (census_ != nullptr && census_->covers(c)) {
    census_->forEachInstance(c, *nursery_, f);
    return;
  }
  forEachObject([&](HeapObject* o) {
    if (o->classIndex() == c) f(o);
  });
}

}  // namespace space
