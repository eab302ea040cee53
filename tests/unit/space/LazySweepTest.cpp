// Sweeping lazily (space/LazySweep.h): the pause of a collection that falls due only
// marks, and each segment is swept as allocation needs it, in steps, or at the end of
// whatever walks the heap. Each case sets the sweep's result against the sweep in the
// pause, or checks that no dead object is met and no live one freed (the verifier).
#include <algorithm>
#include <vector>

#include "space/InstanceCensus.h"
#include "space/SpaceImage.h"
#include "tests/unit/space/TestHeap.h"

using namespace space;
using space::test::TestHeap;

namespace {

// Every collection that falls due sweeps lazily, and no marking starts by itself (the
// cases start one where they want one). No collection at every allocation, even in GC
// stress builds.
SpaceConfig lazyConfig() {
  SpaceConfig c = space::test::smallConfig();
  c.gcStress = false;
  c.incrementalMarkingMinBytes = size_t(1) << 40;  // no marking is ever due
  c.lazySweepMinBytes = 0;
  return c;
}

constexpr size_t kArrays = 6000;     // of 500 slots: 4 KiB each, over three segments
constexpr size_t kArraySlots = 500;  // (young below largeObjectBytes: made old here)

// Fills old space with arrays, every other one kept in the answered array (each holding
// its index), the rest garbage; then a second round of garbage, so that a segment at the
// top holds nothing live.
Oop fill(TestHeap& h) {
  Oop keep = h.array(kArrays / 2, Tenure::Old);
  Handle held(h.space, keep);
  for (size_t i = 0; i < kArrays; i++) {
    Oop a = h.array(kArraySlots, Tenure::Old);
    if (i % 2 == 0) {
      h.space.storePointer(a, 0, Oop::fromSmallInteger(int64_t(i)));
      h.space.storePointer(held.get(), i / 2, a);
    }
  }
  for (size_t i = 0; i < kArrays / 2; i++) h.array(kArraySlots, Tenure::Old);
  return held.get();
}

void checkKept(Oop keep) {
  for (size_t i = 0; i < kArrays / 2; i++)
    REQUIRE(keep.object()->slot(i).object()->slot(0).smallInteger() == int64_t(2 * i));
}

// A snapshot's hold on the pages as ImageWriter makes it (Space::holdPages), its writer
// played by the test: old space's pages as of the hold, each segment up to its objects'
// top, are written below `front`; waiting for the writer writes them all.
struct SnapshotHold {
  std::vector<MemoryRange> captured;
  uintptr_t front = 0;
  bool waited = false;
  int owed = 0;

  void hold(Space& space, bool tellsCaptured = true) {
    captured = SpaceImage::currentOldPages(space);
    REQUIRE(!captured.empty());
    front = captured.front().start;
    Space::PagesHold h{.finish = [this] { waited = true, front = UINTPTR_MAX; }, .owed = [this] { owed++; }};
    if (tellsCaptured) h.captured = [this](uintptr_t start, uintptr_t end) { return needs(start, end); };
    space.holdPages(std::move(h));
  }
  bool needs(uintptr_t start, uintptr_t end) const {
    return std::any_of(captured.begin(), captured.end(), [&](const MemoryRange& r) {
      return r.start < end && start < r.end && std::min(end, r.end) > front;
    });
  }
};

// Old garbage until a full collection runs (at most `bytes` of it); answers whether one ran.
bool garbageUntilCollected(TestHeap& h, size_t bytes) {
  uint64_t before = h.space.stats().fullCollections;
  for (size_t made = 0; made < bytes && h.space.stats().fullCollections == before; made += kArraySlots * 8)
    h.array(kArraySlots, Tenure::Old);
  return h.space.stats().fullCollections > before;
}

}  // namespace

TEST_CASE("a due collection's pause leaves every segment to sweep, and allocation sweeps before it grows") {
  TestHeap h(lazyConfig());
  Handle keep(h.space, fill(h));
  size_t committed = h.space.oldSpace().committedBytes();
  REQUIRE(h.space.oldSpace().segments().size() >= 3);
  uint64_t lazySweeps = h.space.stats().lazySweeps;
  uint64_t sweepNanos = h.space.stats().fullCollectionSweepNanos;
  h.space.collectDueGarbage();
  REQUIRE(h.space.sweeping());
  const LazySweep& sweep = *h.space.lazySweep();
  CHECK(sweep.sweptBytes() == 0);
  CHECK(sweep.bytesToSweep() == committed);
  CHECK(h.space.oldSpace().freeBytes() == 0);
  CHECK(h.space.stats().fullCollectionSweepNanos == sweepNanos);  // no sweep in the pause
  // No free chunk yet: the allocation sweeps a segment rather than open one.
  Handle fresh(h.space, h.array(kArraySlots, Tenure::Old));
  CHECK(h.space.oldSpace().committedBytes() <= committed);
  REQUIRE(h.space.sweeping());
  CHECK(h.space.lazySweep()->sweptBytes() > 0);
  CHECK(h.space.lazySweep()->sweptBytes() < committed);
  h.space.finishSweeping();  // the rest, every segment
  CHECK_FALSE(h.space.sweeping());
  CHECK_FALSE(h.space.markBits().anyMarked());
  CHECK(h.space.stats().lazySweeps == lazySweeps + 1);
  checkKept(keep.get());
  h.verify();
}

TEST_CASE("swept lazily, old space comes out as swept in the pause") {
  SpaceConfig eagerConfig = lazyConfig();
  eagerConfig.lazySweeping = false;
  TestHeap eager(eagerConfig), lazy(lazyConfig());
  Handle keepEager(eager.space, fill(eager)), keepLazy(lazy.space, fill(lazy));
  eager.space.collectDueGarbage();
  lazy.space.collectDueGarbage();
  REQUIRE_FALSE(eager.space.sweeping());
  REQUIRE(lazy.space.sweeping());
  lazy.space.finishSweeping();
  const OldSpace &e = eager.space.oldSpace(), &l = lazy.space.oldSpace();
  CHECK(l.liveBytesAtLastSweep() == e.liveBytesAtLastSweep());
  CHECK(l.committedBytes() == e.committedBytes());  // the same empty segments released, one kept
  CHECK(l.segments().size() == e.segments().size());
  CHECK(l.freeBytes() == e.freeBytes());
  CHECK(l.allocatedSinceSweep() == e.allocatedSinceSweep());
  CHECK(lazy.space.stats().peakLiveBytes == eager.space.stats().peakLiveBytes);
  checkKept(keepLazy.get());
  lazy.verify();
}

TEST_CASE("what the program makes and stores while the sweep runs is kept") {
  TestHeap h(lazyConfig());
  Handle keep(h.space, fill(h));
  h.space.collectDueGarbage();
  REQUIRE(h.space.sweeping());
  // New old objects (in swept memory) and young ones promoted by scavenges, whose
  // promotion may sweep: all stored into objects of segments not swept yet.
  std::vector<Handle> young;
  for (size_t i = 0; i < kArrays / 2; i += 97) {
    Oop o = i % 2 == 0 ? h.point(int64_t(i), 0, Tenure::Old) : h.point(int64_t(i), 0);
    h.space.storePointer(keep.get().object()->slot(i), 1, o);
  }
  for (int i = 0; i < 5 && h.space.sweeping(); i++) h.space.scavenge();
  h.space.finishSweeping();
  for (size_t i = 0; i < kArrays / 2; i += 97) {
    Oop holder = keep.get().object()->slot(i);
    CHECK(holder.object()->slot(0).smallInteger() == int64_t(2 * i));
    CHECK(TestHeap::x(holder.object()->slot(1)) == int64_t(i));
  }
  h.verify();
  // And the next collection, in the pause this time, finds the same.
  h.space.collectGarbage();
  checkKept(keep.get());
  h.verify();
}

TEST_CASE("steps after scavenges end the sweep, and a marking starts only once it has ended") {
  SpaceConfig c = lazyConfig();
  TestHeap h(c);
  Handle keep(h.space, fill(h));
  uint64_t lazySweeps = h.space.stats().lazySweeps, dropped = h.space.stats().droppedLazySweeps;
  h.space.collectDueGarbage();
  REQUIRE(h.space.sweeping());
  size_t scavenges = 0;
  while (h.space.sweeping()) {
    REQUIRE(++scavenges < 100);
    for (int i = 0; i < 2000; i++) h.point(i, i);  // garbage, and a scavenge
    h.space.scavenge();
  }
  CHECK(h.space.stats().lazySweeps == lazySweeps + 1);  // ended by the steps, not dropped
  CHECK(h.space.stats().droppedLazySweeps == dropped);
  CHECK(h.space.stats().maxLazySweepStepNanos > 0);
  checkKept(keep.get());
  h.verify();

  // Swept by none of those: a marking ends the sweep before it marks.
  for (size_t i = 0; i < kArrays / 2; i++) h.array(kArraySlots, Tenure::Old);
  h.space.collectDueGarbage();
  REQUIRE(h.space.sweeping());
  REQUIRE(h.space.startMarking());
  CHECK_FALSE(h.space.sweeping());
  while (!h.space.markStep(1 << 20)) {
  }
  h.space.collectDueGarbage();
  h.space.finishSweeping();
  checkKept(keep.get());
  h.verify();
}

TEST_CASE("a collection in the pause drops the sweep left, and frees what it left") {
  TestHeap h(lazyConfig());
  Handle keep(h.space, fill(h));
  h.space.collectDueGarbage();
  REQUIRE(h.space.sweeping());
  Handle fresh(h.space, h.array(kArraySlots, Tenure::Old));  // sweeps a segment or more
  REQUIRE(h.space.sweeping());
  uint64_t dropped = h.space.stats().droppedLazySweeps;
  h.space.collectGarbage();
  CHECK_FALSE(h.space.sweeping());
  CHECK(h.space.stats().droppedLazySweeps == dropped + 1);
  CHECK_FALSE(h.space.markBits().anyMarked());
  size_t live = h.space.oldSpace().liveBytesAtLastSweep();
  h.space.collectGarbage();
  CHECK(h.space.oldSpace().liveBytesAtLastSweep() == live);
  checkKept(keep.get());
  h.verify();
}

TEST_CASE("what walks the heap ends the sweep first, and meets no dead object") {
  TestHeap h(lazyConfig());
  Handle keep(h.space, fill(h));
  auto arrays = [&] {
    size_t n = 0;
    h.space.forEachInstanceOf(h.arrayClass, [&](HeapObject* o) { n += o->slotCount() == kArraySlots; });
    return n;
  };
  // A collection that leaves its sweep, after garbage for it to free.
  auto leaveASweep = [&] {
    for (size_t i = 0; i < kArrays / 2; i++) h.array(kArraySlots, Tenure::Old);
    h.space.collectDueGarbage();
    REQUIRE(h.space.sweeping());
  };
  leaveASweep();
  CHECK(arrays() == kArrays / 2);
  CHECK_FALSE(h.space.sweeping());

  leaveASweep();
  h.space.openCensus({h.arrayClass});
  CHECK_FALSE(h.space.sweeping());
  while (!h.space.censusStep(std::chrono::microseconds(1000))) {
  }
  CHECK(arrays() == kArrays / 2);
  h.space.dropCensus();

  leaveASweep();
  h.space.armCheckpoint();
  CHECK_FALSE(h.space.sweeping());
  h.space.disarmCheckpoint();

  leaveASweep();
  h.verify();
  CHECK_FALSE(h.space.sweeping());
}

TEST_CASE("an idle release in slices sweeps in them too, and answers what the sweep gave back") {
  SpaceConfig c = lazyConfig();
  c.idleFullGcIntervalMillis = 0;
  c.maxMarkingStepMicros = 0;  // a slice sweeps one segment
  TestHeap h(c);
  Handle keep(h.space, fill(h));
  h.space.collectGarbage();
  for (size_t i = 0; i < kArrays; i++) h.array(kArraySlots, Tenure::Old);  // garbage: two segments
  size_t residentBefore = h.space.residentBytes();
  size_t slices = 0;
  std::optional<size_t> released;
  while (!(released = h.space.releaseMemoryWhileIdleSlice())) {
    REQUIRE(++slices < 1000);
    CHECK(h.space.sweeping());
  }
  CHECK(slices >= 2);  // the collection's, and a segment a slice
  CHECK_FALSE(h.space.sweeping());
  CHECK(*released > 0);
  CHECK(h.space.residentBytes() < residentBefore);
  checkKept(keep.get());
  h.verify();
}

TEST_CASE("allocation sweeps a few segments between two steps, then takes fresh memory") {
  TestHeap h(lazyConfig());
  // Dense live data: segments that free nothing, as the hub's stored sources.
  Handle keep(h.space, h.array(2 * kArrays, Tenure::Old));
  for (size_t i = 0; i < 2 * kArrays; i++) h.space.storePointer(keep.get(), i, h.array(kArraySlots, Tenure::Old));
  h.space.collectDueGarbage();
  REQUIRE(h.space.sweeping());
  const LazySweep& sweep = *h.space.lazySweep();
  REQUIRE(sweep.bytesToSweep() >= 5 * OldSpace::kDefaultSegmentBytes);
  size_t committed = h.space.oldSpace().committedBytes();
  // Straight from old space, as a scavenge promotes: no step in between.
  for (int i = 0; i < 10; i++) {
    uintptr_t block = h.space.oldSpace().allocateBlock(64 * 1024);
    REQUIRE(block != 0);
    HeapObject::formatFreeChunk(block, 64 * 1024);  // walkable, as an object there would be
  }
  CHECK(sweep.sweptBytes() == LazySweep::kSegmentsOnDemand * OldSpace::kDefaultSegmentBytes);
  CHECK(h.space.oldSpace().committedBytes() > committed);
  h.space.finishSweeping();  // every segment left, not only the next
  CHECK_FALSE(h.space.sweeping());
  // Every live array counted, as a collection in the pause counts them.
  size_t live = h.space.oldSpace().liveBytesAtLastSweep();
  CHECK(live >= 2 * kArrays * kArraySlots * 8);
  h.space.collectGarbage();
  CHECK(h.space.oldSpace().liveBytesAtLastSweep() == live);
  h.verify();
}

TEST_CASE("under a snapshot's hold a due collection runs without waiting for the writer, and sweeps behind it") {
  TestHeap h(lazyConfig());
  Handle keep(h.space, fill(h));
  h.space.collectGarbage();  // 12 MiB live: the next collection is due 6 MiB on
  // Dead by the hold, each holding its index: the collection under the hold finds them,
  // and only the sweep would write over them.
  std::vector<HeapObject*> dead;
  for (size_t i = 0; i < 1000; i++) {
    Oop a = h.array(kArraySlots, Tenure::Old);
    h.space.storePointer(a, 0, Oop::fromSmallInteger(int64_t(i)));
    dead.push_back(a.object());
  }
  auto deadIntactFrom = [&](uintptr_t from) {
    size_t n = 0;
    for (size_t i = 0; i < dead.size(); i++) {
      if (uintptr_t(dead[i]) < from) continue;
      n++;
      if (dead[i]->classIndex() != h.arrayClass || dead[i]->slot(0) != Oop::fromSmallInteger(int64_t(i))) return 0ul;
    }
    return n;
  };
  uint64_t fullBefore = h.space.stats().fullCollections;
  SnapshotHold snapshot;
  snapshot.hold(h.space);
  REQUIRE(garbageUntilCollected(h, size_t(16) << 20));
  CHECK(h.space.stats().fullCollections == fullBefore + 1);
  CHECK_FALSE(snapshot.waited);
  CHECK(snapshot.owed == 1);  // the writer is hurried
  REQUIRE(h.space.sweeping());
  CHECK(h.space.sweepHeldBack());
  CHECK(h.space.lazySweep()->sweptBytes() == 0);
  CHECK(deadIntactFrom(0) == dead.size());
  // Old space takes fresh memory meanwhile, rather than sweep what the writer needs.
  size_t committed = h.space.oldSpace().committedBytes();
  for (int i = 0; i < 2500; i++) h.array(kArraySlots, Tenure::Old);  // 10 MiB: past the segment opened last
  CHECK(h.space.oldSpace().committedBytes() > committed);
  CHECK(h.space.lazySweep()->sweptBytes() == 0);
  // No marking starts before the sweep has ended.
  CHECK_FALSE(h.space.startMarking());

  // The writer past the first segment: allocation sweeps it, and no further.
  const std::vector<Segment>& segments = h.space.oldSpace().segments();
  REQUIRE(segments.size() >= 4);
  snapshot.front = segments[0].end;
  REQUIRE(std::all_of(dead.begin(), dead.end(), [&](HeapObject* o) { return uintptr_t(o) >= snapshot.front; }));
  for (int i = 0; i < 64; i++) h.array(kArraySlots, Tenure::Old);
  h.space.scavenge();  // a step
  CHECK(h.space.lazySweep()->sweptBytes() == segments[0].bytes());
  CHECK(h.space.sweepHeldBack());
  CHECK(deadIntactFrom(snapshot.front) == dead.size());

  // A second collection due before the sweep has ended waits for the writer.
  CHECK_FALSE(garbageUntilCollected(h, size_t(16) << 20));
  CHECK(snapshot.owed == 1);  // told once
  CHECK_FALSE(snapshot.waited);

  // Ending the sweep waits for the writer, also when the next segment is past it but one
  // further on is not.
  snapshot.front = segments[1].end;
  CHECK_FALSE(h.space.sweepHeldBack());
  h.space.finishSweeping();
  CHECK(snapshot.waited);
  CHECK_FALSE(h.space.sweeping());
  CHECK_FALSE(h.space.markBits().anyMarked());
  checkKept(keep.get());
  h.verify();
}

TEST_CASE("a long snapshot of a program that promotes garbage: old space grows by a fraction of what it would") {
  // The same program twice, under a hold whose writer moves through the pages: one hold
  // tells which pages the writer still needs, the other does not (every due collection
  // then waits for the writer, and old space takes all the program makes meanwhile).
  auto growth = [](bool tellsCaptured) {
    TestHeap h(lazyConfig());
    Handle keep(h.space, fill(h));
    h.space.collectGarbage();
    size_t committed = h.space.oldSpace().committedBytes();
    SnapshotHold snapshot;
    snapshot.hold(h.space, tellsCaptured);
    uintptr_t first = snapshot.captured.front().start, last = snapshot.captured.back().end;
    // 128 MiB of garbage, the writer done with the pages a quarter of the way.
    constexpr int kRounds = 128;
    for (int round = 1; round <= kRounds; round++) {
      for (int i = 0; i < 256; i++) h.array(kArraySlots, Tenure::Old);  // 1 MiB
      snapshot.front = std::max(snapshot.front, first + (last - first) * size_t(round) / (kRounds / 4));
    }
    CHECK_FALSE(snapshot.waited);
    h.space.releasePagesHold();
    h.space.finishSweeping();
    checkKept(keep.get());
    h.verify();
    return h.space.oldSpace().committedBytes() - committed;
  };
  size_t told = growth(true), untold = growth(false);
  MESSAGE("old space grew by " << (told >> 20) << " MiB, and by " << (untold >> 20) << " MiB not told");
  CHECK(untold >= size_t(64) << 20);
  CHECK(told * 3 <= untold);
}
