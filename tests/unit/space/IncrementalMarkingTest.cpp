// Marking in steps (space/Marker.h): each exception to the marking's invariant, and what
// the finish must mend, has a case where the object it protects would otherwise be
// freed while reachable (the verifier then finds a reference into free memory).
#include <optional>
#include <random>
#include <unordered_set>
#include <vector>

#include "space/Marker.h"
#include "space/SpaceCheckpoint.h"
#include "tests/unit/space/TestHeap.h"

using namespace space;
using space::test::TestHeap;

namespace {

// Objects reachable from `root` through pointer slots, `root` included.
std::unordered_set<HeapObject*> reachableFrom(Oop root) {
  std::unordered_set<HeapObject*> seen;
  std::vector<HeapObject*> pending{root.object()};
  seen.insert(root.object());
  while (!pending.empty()) {
    HeapObject* o = pending.back();
    pending.pop_back();
    for (size_t i = 0; i < o->pointerSlotCount(); i++) {
      Oop v = o->slot(i);
      if (v.isHeapObject() && seen.insert(v.object()).second) pending.push_back(v.object());
    }
  }
  return seen;
}

// Deterministic steps: no collection at every allocation, even in GC stress builds.
SpaceConfig steadyConfig() {
  SpaceConfig c = space::test::smallConfig();
  c.gcStress = false;
  return c;
}

// Steady, a marking of any size, and a catch-up step at every heartbeat.
SpaceConfig heartbeatConfig() {
  SpaceConfig c = steadyConfig();
  c.incrementalMarkingMinBytes = 0;
  c.markingCatchUpIntervalMicros = 0;
  return c;
}

// An old array of `n` old points (x = 0 .. n-1), after a full collection: work enough for
// a marking of many steps.
Handle oldPoints(TestHeap& h, size_t n) {
  Handle keep(h.space, h.array(n, Tenure::Old));
  for (size_t i = 0; i < n; i++) h.space.storePointer(keep.get(), i, h.point(int64_t(i), 0, Tenure::Old));
  h.space.collectGarbage();
  return keep;
}

}  // namespace

TEST_CASE("a store into an object the marking has scanned marks what it stores") {
  TestHeap h(steadyConfig());
  Handle a(h.space, h.array(2, Tenure::Old));
  Oop b = h.array(1, Tenure::Old);
  Oop c = h.point(3, 4, Tenure::Old);
  h.space.storePointer(a.get(), 0, b);
  h.space.storePointer(b, 0, c);
  REQUIRE(h.space.startMarking());
  h.space.markStep(1);  // scans the last root pushed, `a`; `b` is marked, not scanned
  CHECK(h.space.markBits().isMarked(b.object()));
  CHECK_FALSE(h.space.markBits().isMarked(c.object()));
  // `c` moves from the unscanned `b` into the scanned `a`.
  h.space.storePointer(a.get(), 1, c);
  h.space.storePointer(b, 0, h.space.nil());
  h.space.collectDueGarbage();
  CHECK(h.space.stats().incrementalCollections == 1);
  Oop kept = a.get().object()->slot(1);
  CHECK(TestHeap::x(kept) == 3);
  CHECK(TestHeap::y(kept) == 4);
  h.verify();
}

TEST_CASE("what only a young object refers to is marked once the young object is promoted") {
  TestHeap h(steadyConfig());
  Handle a(h.space, h.array(2, Tenure::Old));
  Oop b = h.array(1, Tenure::Old);
  Oop c = h.point(5, 6, Tenure::Old);
  h.space.storePointer(a.get(), 0, b);
  h.space.storePointer(b, 0, c);
  Oop young = h.array(1);
  h.space.storePointer(a.get(), 1, young);  // remembered, not marked: young objects are not
  REQUIRE(h.space.startMarking());
  h.space.markStep(1);
  // `c` now hangs from the young array only; no barrier runs for a young target.
  h.space.storePointer(a.get().object()->slot(1), 0, c);
  h.space.storePointer(b, 0, h.space.nil());
  for (int i = 0; i < 4; i++) h.space.scavenge();  // promotes the array (or the finish does)
  if (h.space.marking()) h.space.collectDueGarbage();
  CHECK(h.space.stats().incrementalCollections == 1);
  Oop kept = a.get().object()->slot(1).object()->slot(0);
  CHECK(TestHeap::x(kept) == 5);
  h.verify();
}

TEST_CASE("a large array is scanned in pieces, a step's worth at a time; stores on either side of a piece are kept") {
  TestHeap h(steadyConfig());
  const size_t piece = Marker::kPieceSlots;
  const size_t n = 5 * piece + 7;
  Handle made(h.space, h.point(-1, -2, Tenure::Old));  // allocating old would step the marking
  Handle a(h.space, h.array(n, Tenure::Old));
  for (size_t i = 0; i < n; i++) h.space.storePointer(a.get(), i, h.point(int64_t(i), 0, Tenure::Old));
  auto marked = [&](size_t i) { return h.space.markBits().isMarked(a.get().object()->slot(i).object()); };
  REQUIRE(h.space.startMarking());
  h.space.markStep(1);  // the first piece of `a`, the last root pushed
  CHECK(marked(0));
  CHECK(marked(piece - 1));
  CHECK_FALSE(marked(piece));
  CHECK_FALSE(marked(n - 1));
  // A point moves from the part not scanned yet into the part scanned (the barrier marks
  // it); another goes into the part not scanned.
  Oop moved = a.get().object()->slot(3 * piece);
  h.space.storePointer(a.get(), 1, moved);
  h.space.storePointer(a.get(), 3 * piece, h.space.nil());
  h.space.storePointer(a.get(), 4 * piece, made.get());
  size_t steps = 1;
  while (!h.space.markStep(1)) steps++;
  CHECK(steps >= 5);  // one piece of `a` per step at least, its points between them
  h.space.collectDueGarbage();
  CHECK(h.space.stats().incrementalCollections == 1);
  CHECK(TestHeap::x(a.get().object()->slot(1)) == int64_t(3 * piece));
  CHECK(TestHeap::y(a.get().object()->slot(4 * piece)) == -2);
  CHECK(TestHeap::x(a.get().object()->slot(n - 1)) == int64_t(n - 1));
  h.verify();
}

TEST_CASE("a stack written without a barrier while the marking runs is scanned again at its finish") {
  TestHeap h(steadyConfig());
  Oop s = h.stack(8, 1);
  h.space.setActiveStack(s);
  Handle b(h.space, h.array(1, Tenure::Old));
  Oop c = h.point(7, 8, Tenure::Old);
  h.space.storePointer(b.get(), 0, c);
  REQUIRE(h.space.startMarking());
  h.space.markStep(1);  // scans the active stack, the last root pushed
  // As the interpreter does: a push into the active stack, no barrier.
  s.object()->slots()[1] = c;
  h.space.storePointer(b.get(), 0, h.space.nil());
  h.space.collectDueGarbage();
  CHECK(TestHeap::x(h.space.activeStack().object()->slot(1)) == 7);
  h.verify();
}

TEST_CASE("a bulk store into an object the marking has scanned has it scanned again") {
  TestHeap h(steadyConfig());
  Handle a(h.space, h.array(4, Tenure::Old));
  Oop b = h.array(1, Tenure::Old);
  Oop c = h.point(9, 10, Tenure::Old);
  h.space.storePointer(a.get(), 0, b);
  h.space.storePointer(b, 0, c);
  REQUIRE(h.space.startMarking());
  h.space.markStep(1);
  // As a primitive copying slots in bulk does: raw stores, then rememberIfOld.
  a.get().object()->slots()[3] = c;
  h.space.rememberIfOld(a.get().object());
  h.space.storePointer(b, 0, h.space.nil());
  h.space.collectDueGarbage();
  CHECK(TestHeap::x(a.get().object()->slot(3)) == 9);
  h.verify();
}

TEST_CASE("what dies while a marking runs is freed by the collection after, and garbage from before by its own") {
  TestHeap h(steadyConfig());
  Handle keep(h.space, h.array(100, Tenure::Old));
  for (int i = 0; i < 100; i++) h.space.storePointer(keep.get(), size_t(i), h.point(i, i, Tenure::Old));
  for (int i = 0; i < 1000; i++) h.point(i, i, Tenure::Old);  // garbage before the marking starts
  h.space.collectGarbage();
  size_t live = h.space.oldSpace().liveBytesAtLastSweep();
  size_t pointBytes = keep.get().object()->slot(0).object()->totalBytes();
  for (int i = 0; i < 1000; i++) h.point(i, i, Tenure::Old);
  REQUIRE(h.space.startMarking());
  h.space.markStep(64);
  for (int i = 50; i < 100; i++) h.space.storePointer(keep.get(), size_t(i), h.space.nil());  // die now
  h.space.collectDueGarbage();
  // The 1,000 points unreachable when the marking started are gone; of those that died
  // while it ran, some may be left (marked before they died) for the next collection.
  CHECK(h.space.oldSpace().liveBytesAtLastSweep() <= live);
  h.space.collectGarbage();
  CHECK(h.space.oldSpace().liveBytesAtLastSweep() == live - 50 * pointBytes);
  h.verify();
}

TEST_CASE("a marking runs on through a committed checkpoint; a rollback or a become drops it") {
  TestHeap h(steadyConfig());
  Handle a(h.space, h.array(2, Tenure::Old));
  h.space.storePointer(a.get(), 0, h.point(1, 2, Tenure::Old));
  // Committed: what the update stored (through the barrier) is marked like any store.
  REQUIRE(h.space.startMarking());
  h.space.markStep(1);  // scans `a`
  {
    SpaceCheckpoint checkpoint(h.space);
    CHECK(h.space.marking());
    h.space.storePointer(a.get(), 1, h.point(5, 6, Tenure::Old));  // made and stored in the update
    h.space.markStep(1);
    checkpoint.commit();
  }
  CHECK(h.space.marking());
  CHECK(h.space.stats().abandonedMarkings == 0);
  h.space.collectDueGarbage();
  CHECK(h.space.stats().incrementalCollections == 1);
  CHECK(TestHeap::x(a.get().object()->slot(1)) == 5);
  h.space.finishSweeping();
  h.verify();
  // Rolled back: the pages it marked from are undone, and so is the marking.
  REQUIRE(h.space.startMarking());
  h.space.markStep(1);
  {
    SpaceCheckpoint checkpoint(h.space);
    h.space.storePointer(a.get(), 1, h.point(7, 8, Tenure::Old));
    h.space.markStep(1);
    checkpoint.rollback();
    CHECK_FALSE(h.space.marking());
    CHECK(h.space.stats().abandonedMarkings == 1);
  }
  h.verify();  // no marks are left
  CHECK(TestHeap::x(a.get().object()->slot(1)) == 5);
  {
    SpaceCheckpoint checkpoint(h.space);
    CHECK_FALSE(h.space.startMarking());  // none starts under a checkpoint
    checkpoint.commit();
  }
  REQUIRE(h.space.startMarking());
  h.space.markStep(1);
  Oop from = a.get().object()->slot(0);
  Oop to = h.point(3, 4, Tenure::Old);
  Oop f[] = {from}, t[] = {to};
  h.space.becomeForward(f, t, CopyHash::No);
  CHECK_FALSE(h.space.marking());
  CHECK(h.space.stats().abandonedMarkings == 2);
  CHECK_FALSE(h.space.startMarking());  // forwarders are left: the next collection stops the world
  h.space.collectGarbage();
  CHECK(TestHeap::x(a.get().object()->slot(0)) == 3);
  CHECK(h.space.startMarking());
  h.space.collectDueGarbage();
  CHECK(h.space.stats().incrementalCollections == 2);
  h.space.markStep(1);
  CHECK(h.space.startMarking());
  h.space.collectGarbage();  // an explicit collection drops the marking, and frees all that is dead
  CHECK(h.space.stats().abandonedMarkings == 3);
  CHECK(h.space.stats().incrementalCollections == 2);
  h.verify();
}

TEST_CASE("random stores, scavenges and steps while a marking runs free nothing reachable at its finish") {
  for (unsigned seed : {1u, 2u, 3u}) {
    INFO("seed " << seed);
    SpaceConfig config = steadyConfig();  // the pool below is not rooted until linked
    config.markingStepBytes = 1024;       // scavenges mark in small steps too
    TestHeap h(config);
    std::mt19937 random(seed);
    constexpr size_t kObjects = 3000, kSlots = 4;
    Handle root(h.space, h.array(64, Tenure::Old));
    // Old objects do not move: the test may hold their addresses until the sweep.
    std::vector<Oop> pool;
    for (size_t i = 0; i < kObjects; i++) pool.push_back(h.array(kSlots, Tenure::Old));
    auto any = [&] { return pool[random() % kObjects]; };
    for (size_t i = 0; i < 64; i++) h.space.storePointer(root.get(), i, any());
    for (size_t i = 0; i < kObjects * 2; i++) h.space.storePointer(any(), random() % kSlots, any());
    h.space.collectGarbage();
    // Only the reachable part of the pool may be used from now on.
    std::unordered_set<HeapObject*> reachable = reachableFrom(root.get());
    std::erase_if(pool, [&](Oop o) { return !reachable.contains(o.object()); });
    auto pick = [&] { return pool[random() % pool.size()]; };
    REQUIRE(h.space.startMarking());
    const uint64_t collections = h.space.stats().fullCollections;
    // A full collection (a scavenge that found the marking done) ends the test's use of
    // the pool: it may have freed what the root no longer reaches.
    auto finished = [&] { return h.space.stats().fullCollections != collections; };
    for (int i = 0; i < 20000; i++) {
      unsigned op = random() % 100;
      if (op < 60) {
        h.space.storePointer(pick(), random() % kSlots, random() % 4 == 0 ? h.space.nil() : pick());
      } else if (op < 80) {
        // A young array holding old ones, hung from an old one: reached once promoted.
        Oop young = h.array(2);
        if (finished()) break;  // the allocation's scavenge finished it
        h.space.storePointer(young, 0, pick());
        h.space.storePointer(young, 1, pick());
        h.space.storePointer(pick(), random() % kSlots, young);
      } else if (op < 85) {
        Oop fresh = h.array(kSlots, Tenure::Old);  // allocated old while marking: unmarked
        if (finished()) break;
        h.space.storePointer(fresh, 0, pick());
        h.space.storePointer(pick(), random() % kSlots, fresh);
      } else if (op < 93) {
        h.space.markStep(256);
      } else if (op < 95) {
        h.space.scavenge();  // promotes, marks a step, and may finish the marking
      } else {
        h.space.storePointer(root.get(), random() % 64, pick());
      }
      if (finished()) break;
      // What the root no longer reaches may not be used again (it may have been freed).
      if (i % 500 == 0) {
        reachable = reachableFrom(root.get());
        std::erase_if(pool, [&](Oop o) { return !reachable.contains(o.object()); });
        if (pool.empty()) break;
      }
    }
    if (!finished()) h.space.collectDueGarbage();
    CHECK(h.space.stats().incrementalCollections >= 1);
    h.verify();
    // What the marking kept is at least what is reachable; a stop-the-world collection
    // after it frees the rest and keeps the same reachable objects.
    size_t keptIncrementally = h.space.oldSpace().liveBytesAtLastSweep();
    h.space.collectGarbage();
    CHECK(h.space.oldSpace().liveBytesAtLastSweep() <= keptIncrementally);
    h.verify();
  }
}

TEST_CASE("an idle release in slices marks between them, then collects in a pause that only sweeps") {
  SpaceConfig c = steadyConfig();
  c.incrementalMarkingMinBytes = 0;
  c.idleFullGcIntervalMillis = 0;
  c.maxMarkingStepMicros = 0;  // a slice marks a few hundred slots: many slices
  TestHeap h(c);
  const size_t n = 20000;
  Handle keep(h.space, h.array(n, Tenure::Old));
  for (size_t i = 0; i < n; i++) h.space.storePointer(keep.get(), i, h.point(int64_t(i), 0, Tenure::Old));
  h.space.collectGarbage();
  size_t live = h.space.oldSpace().liveBytesAtLastSweep();
  for (int i = 0; i < 5000; i++) h.point(i, i, Tenure::Old);  // garbage
  for (int i = 0; i < 100; i++) h.point(i, i);
  const GcStats& s = h.space.stats();
  size_t fullCollections = s.fullCollections;
  size_t slices = 0;
  std::optional<size_t> released;
  while (!(released = h.space.releaseMemoryWhileIdleSlice())) {
    REQUIRE(++slices < 100000);
    REQUIRE(h.space.marking());
    CHECK(s.fullCollections == fullCollections);
    // The program runs between slices: a store into the part scanned already.
    h.space.storePointer(keep.get(), 0, keep.get().object()->slot(n - 1 - slices % 100));
  }
  CHECK(slices > 20);
  CHECK(s.incrementalCollections == 1);
  CHECK(s.fullCollections == fullCollections + 1);
  CHECK(h.space.oldSpace().liveBytesAtLastSweep() <= live + 1024);  // the garbage went
  CHECK_FALSE(h.space.marking());
  for (size_t i = 1; i < n; i++) REQUIRE(TestHeap::x(keep.get().object()->slot(i)) == int64_t(i));
  h.verify();
  // Nothing ran since: nothing to do, at once.
  CHECK(h.space.releaseMemoryWhileIdleSlice() == std::optional<size_t>(0));
}

TEST_CASE("an idle release in slices collects at once under incrementalMarkingMinBytes of live data") {
  SpaceConfig c = steadyConfig();
  c.incrementalMarkingMinBytes = size_t(1) << 30;
  c.idleFullGcIntervalMillis = 0;
  TestHeap h(c);
  for (int i = 0; i < 100; i++) h.point(i, i, Tenure::Old);
  size_t fullCollections = h.space.stats().fullCollections;
  CHECK(h.space.releaseMemoryWhileIdleSlice().has_value());
  CHECK(h.space.stats().fullCollections == fullCollections + 1);
  CHECK(h.space.stats().incrementalMarkings == 0);
}

TEST_CASE("steps cut short by their deadline leave a debt that the heartbeat's steps pay") {
  SpaceConfig c = heartbeatConfig();
  c.maxMarkingStepMicros = 0;  // every step stops after a piece
  TestHeap h(c);
  const size_t n = 20000;
  Handle keep = oldPoints(h, n);
  const GcStats& s = h.space.stats();
  REQUIRE(h.space.startMarking());
  // On pace, with no debt, the heartbeat does nothing.
  uint64_t steps = s.markingSteps;
  h.space.collectAtHeartbeat();
  CHECK(s.markingSteps == steps);
  // A scavenge's step, a budget of markingStepBytes, stops after a piece: a debt.
  h.point(1, 2);
  h.space.scavenge();
  REQUIRE(h.space.marking());
  uint64_t debt = h.space.markingDebtBytes();
  CHECK(debt > c.markingStepBytes / 2);
  // Paid at the heartbeat, a piece a step here.
  for (int i = 0; i < 100 && h.space.markingDebtBytes() > 0; i++) h.space.collectAtHeartbeat();
  CHECK(h.space.markingDebtBytes() < debt);
  CHECK(s.markingSteps > steps + 50);
  h.space.collectDueGarbage();
  CHECK(s.incrementalCollections == 1);
  for (size_t i = 0; i < n; i++) REQUIRE(TestHeap::x(keep.get().object()->slot(i)) == int64_t(i));
  h.verify();
}

TEST_CASE("in an update's pause the marking takes no step: old allocations and scavenges owe theirs") {
  SpaceConfig c = heartbeatConfig();
  TestHeap h(c);
  const size_t n = 20000;
  Handle keep = oldPoints(h, n);
  const GcStats& s = h.space.stats();
  REQUIRE(h.space.startMarking());
  uint64_t steps = s.markingSteps;
  {
    SpaceCheckpoint checkpoint(h.space);
    // What an update's apply does: old objects made and stored, a scavenge, guest code
    // reaching its heartbeat.
    Handle made(h.space, h.array(4, Tenure::Old));
    for (size_t i = 0; i < 4; i++) h.space.storePointer(made.get(), i, h.point(int64_t(i), 1, Tenure::Old));
    h.point(1, 2);
    h.space.scavenge();
    h.space.collectAtHeartbeat();
    CHECK(s.markingSteps == steps);
    CHECK(h.space.markingDebtBytes() >= 6 * c.markingStepBytes);
    h.space.storePointer(keep.get(), 0, made.get());
    checkpoint.commit();
  }
  // After the pause the heartbeat pays what the pause owed.
  REQUIRE(h.space.marking());
  for (int i = 0; i < 100 && h.space.markingDebtBytes() > 0; i++) h.space.collectAtHeartbeat();
  CHECK(s.markingSteps > steps);
  h.space.collectDueGarbage();
  CHECK(s.incrementalCollections == 1);
  Oop made = keep.get().object()->slot(0);  // what the update made, kept
  for (size_t i = 0; i < 4; i++) CHECK(TestHeap::x(made.object()->slot(i)) == int64_t(i));
  for (size_t i = 1; i < n; i++) REQUIRE(TestHeap::x(keep.get().object()->slot(i)) == int64_t(i));
  h.verify();
}

TEST_CASE("a marking is late four fifths of the way from its start to its collection") {
  SpaceConfig c = steadyConfig();
  c.incrementalMarkingMinBytes = SIZE_MAX;  // none starts by itself
  c.maxMarkingStepMicros = 0;               // nor finishes while old space grows
  TestHeap h(c);
  const size_t n = 20000;
  Handle keep(h.space, h.array(n, Tenure::Old));
  for (size_t i = 0; i < n; i++) h.space.storePointer(keep.get(), i, h.point(int64_t(i), 0, Tenure::Old));
  h.space.collectGarbage();
  size_t threshold = h.space.fullCollectionThreshold(h.space.oldSpace().liveBytesAtLastSweep());
  REQUIRE(h.space.startMarking());
  CHECK_FALSE(h.space.markingLate());
  while (h.space.marking() && h.space.oldSpace().allocatedSinceSweep() < threshold * 3 / 4) {
    h.space.allocate(h.arrayClass, Format::Indexable, 64, Tenure::Old);
    REQUIRE_FALSE(h.space.markingLate());
  }
  while (h.space.marking() && h.space.oldSpace().allocatedSinceSweep() < threshold * 17 / 20)
    h.space.allocate(h.arrayClass, Format::Indexable, 64, Tenure::Old);
  REQUIRE(h.space.marking());
  CHECK(h.space.markingLate());
  h.space.collectDueGarbage();
  for (size_t i = 0; i < n; i++) REQUIRE(TestHeap::x(keep.get().object()->slot(i)) == int64_t(i));
  h.verify();
}
