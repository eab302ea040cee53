// Old-space collection: marking from roots, sweeping into free lists, segment release.
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "space/CollectorThreads.h"
#include "space/SpaceCheckpoint.h"
#include "tests/unit/space/TestHeap.h"

using namespace space;
using space::test::TestHeap;

TEST_CASE("full collection frees unreachable old objects and keeps reachable ones") {
  TestHeap h;
  Handle keep(h.space, h.array(1000, Tenure::Old));
  for (int i = 0; i < 1000; i++) {
    Oop p = h.point(i, 2 * i, Tenure::Old);
    if (i % 10 == 0) h.space.storePointer(keep.get(), size_t(i / 10), p);
  }
  h.space.collectGarbage();
  size_t liveAfterFirst = h.space.oldSpace().liveBytesAtLastSweep();
  for (int i = 0; i < 100; i++) {
    Oop p = keep.get().object()->slot(size_t(i));
    CHECK(TestHeap::x(p) == 10 * i);
    CHECK(TestHeap::y(p) == 20 * i);
  }
  // 900 dead points (32 bytes each) were reclaimed: their space is on the free lists.
  CHECK(h.space.oldSpace().freeBytes() >= 900 * 32);
  // New old objects of that size reuse the freed chunks rather than growing the heap.
  size_t committed = h.space.oldSpace().committedBytes();
  for (int i = 0; i < 900; i++) h.point(i, i, Tenure::Old);
  CHECK(h.space.oldSpace().committedBytes() == committed);
  h.space.collectGarbage();
  CHECK(h.space.oldSpace().liveBytesAtLastSweep() == liveAfterFirst);
  h.verify();
}

TEST_CASE("cycles and deep structures are collected without recursion") {
  TestHeap h;
  Oop first = h.array(1, Tenure::Old);
  Oop prev = first;
  {
    LocalRoot f(h.space.localRoots(), first);
    LocalRoot p(h.space.localRoots(), prev);
    for (int i = 0; i < 100000; i++) {
      Oop cell = h.array(1, Tenure::Old);
      h.space.storePointer(p.get(), 0, cell);
      p.set(cell);
    }
    h.space.storePointer(p.get(), 0, f.get());  // close the cycle
    h.space.collectGarbage();
    CHECK(h.space.oldSpace().liveBytesAtLastSweep() >= 100001 * 16);
  }
  h.space.collectGarbage();  // now unreachable
  CHECK(h.space.oldSpace().liveBytesAtLastSweep() < 100000 * 16);
  h.verify();
}

TEST_CASE("marking reaches every object from many roots and scattered references, and only those") {
  // Marking queues each reference while it prefetches the header: the queue must be empty
  // when a root's marking ends, and objects without references are marked, not scanned.
  TestHeap h;
  h.space.collectGarbage();
  const size_t before = h.space.oldSpace().liveBytesAtLastSweep();
  constexpr int kRoots = 50, kPerRoot = 40;
  // The leaves, points and byte objects in allocation order, held by `all` until the
  // roots hold them (a GC-stress build collects at every allocation).
  Handle all(h.space, h.array(kRoots * kPerRoot, Tenure::Old));
  for (int i = 0; i < kRoots * kPerRoot; i++) {
    Oop leaf = i % 2 == 0 ? h.point(i, -i, Tenure::Old) : h.space.allocateBytes(h.bytesClass, 20, Tenure::Old);
    if (i % 2 == 1) std::memset(leaf.object()->bytes(), i % 251, 20);
    h.space.storePointer(all.get(), size_t(i), leaf);
    h.array(3, Tenure::Old);  // garbage between them
  }
  std::vector<Handle> roots;
  size_t expected = before;
  for (int r = 0; r < kRoots; r++) {
    roots.emplace_back(h.space, h.array(kPerRoot, Tenure::Old));
    expected += HeapObject::wordsForSlots(kPerRoot) * 8;
  }
  // Root r holds every kRoots-th leaf from r on: each root's references lie far apart.
  for (int i = 0; i < kRoots * kPerRoot; i++) {
    Oop leaf = all.get().object()->slot(size_t(i));
    h.space.storePointer(roots[size_t(i % kRoots)].get(), size_t(i / kRoots), leaf);
    expected += leaf.object()->totalBytes();
  }
  all.reset();
  h.space.collectGarbage();
  CHECK(h.space.oldSpace().liveBytesAtLastSweep() == expected);
  for (int i = 0; i < kRoots * kPerRoot; i++) {
    Oop leaf = roots[size_t(i % kRoots)].get().object()->slot(size_t(i / kRoots));
    if (i % 2 == 0) {
      CHECK(TestHeap::x(leaf) == i);
      CHECK(TestHeap::y(leaf) == -i);
    } else {
      CHECK(leaf.object()->bytes()[19] == uint8_t(i % 251));
    }
  }
  h.verify();
}

TEST_CASE("segments that become empty are released") {
  TestHeap h;
  {
    std::vector<Handle> keep;
    for (int i = 0; i < 10; i++) {
      keep.emplace_back(h.space, h.space.allocate(h.arrayClass, Format::Indexable, (size_t(4) << 20) / 8, Tenure::Old));
    }
  }
  size_t grown = h.space.oldSpace().committedBytes();
  CHECK(grown >= size_t(40) << 20);
  h.space.collectGarbage();
  CHECK(h.space.oldSpace().committedBytes() < grown / 2);
  h.verify();
}

TEST_CASE("collectGarbageIfDue collects once old space has grown past the threshold, and only then") {
  TestHeap h;
  Space& s = h.space;
  REQUIRE(s.collectGarbage());
  uint64_t collections = s.stats().fullCollections;
  CHECK_FALSE(s.collectGarbageIfDue());
  {
    SpaceCheckpoint cp(s);                                      // forbids the collections these allocations would start
    for (int i = 0; i < 3000; i++) h.array(1000, Tenure::Old);  // 24 MB of garbage
    cp.commit();
  }
  CHECK(s.stats().fullCollections == collections);
  CHECK(s.collectGarbageIfDue());
  CHECK(s.stats().fullCollections == collections + 1);
  CHECK_FALSE(s.collectGarbageIfDue());
  h.verify();
}

TEST_CASE("old space is reused after sweeping under steady churn") {
  TestHeap h;
  Handle ring(h.space, h.array(256, Tenure::Old));
  for (int i = 0; i < 200000; i++) {
    Oop p = h.space.allocate(h.arrayClass, Format::Indexable, size_t(i % 50 + 1), Tenure::Old);
    h.space.storePointer(ring.get(), size_t(i % 256), p);
  }
  // Live data stays tiny, so the heap stays within a few segments.
  CHECK(h.space.oldSpace().committedBytes() <= size_t(48) << 20);
  CHECK(h.space.stats().fullCollections > 0);
  h.verify();
}

TEST_CASE(
    "a collection keeps the pages of the large free runs the next cycle allocates from, and gives back the rest") {
  space::SpaceConfig config = space::test::smallConfig();
  config.gcStress = false;  // the test looks at the pages of one collection
  config.minFullGcBytes = size_t(4) << 20;
  config.maxOldBytes = size_t(64) << 20;
  TestHeap h(config);
  constexpr size_t kRuns = 48;
  constexpr size_t kRunSlots = (size_t(256) << 10) / 8;
  constexpr size_t kRunBytes = (kRunSlots + 2) * 8;  // header and overflow word
  Handle keep(h.space, h.array(kRuns, Tenure::Old));
  std::vector<uintptr_t> runs;  // where each garbage run starts
  {
    // Live while they are made (the collections that filling causes keep them), garbage
    // at the collection looked at. Written when made: resident.
    Handle arrays(h.space, h.array(kRuns, Tenure::Old));
    for (size_t i = 0; i < kRuns; i++) {
      Oop run = h.space.allocate(h.arrayClass, Format::Indexable, kRunSlots, Tenure::Old);
      runs.push_back(run.object()->blockStart());
      h.space.storePointer(arrays.get(), i, run);
      h.space.storePointer(keep.get(), i, h.point(int64_t(i), 3, Tenure::Old));  // apart from the next run
    }
  }
  h.space.collectGarbage();
  const uint64_t fullCollections = h.space.stats().fullCollections;
  const size_t threshold = h.space.fullCollectionThreshold(h.space.oldSpace().liveBytesAtLastSweep());
  CHECK(threshold == config.minFullGcBytes);
  // Allocation takes the highest runs first: those keep their pages, until they hold the
  // threshold; every lower one gave its pages back (all but the first, which holds the
  // run's header).
  size_t kept = 0, keptRuns = 0;
  for (size_t i = kRuns; i-- > 0;) {
    auto [from, to] = OldSpace::releasablePages(runs[i], kRunBytes);
    size_t resident = Reservation::residentBytes(from, to);
    CAPTURE(i);
    if (kept < threshold) {
      CHECK(resident == to - from);
      kept += resident;
      keptRuns++;
    } else {
      CHECK(resident == 0);
    }
  }
  CHECK(keptRuns < kRuns / 2);
  // The newest segment's never-written rest is a free run too, the highest: room for most
  // of what the next cycle allocates.
  const Segment& newest = h.space.oldSpace().segments().back();
  CHECK(newest.contains(runs.back()));
  CHECK(newest.end - Reservation::roundUpToPage(runs.back() + kRunBytes) > threshold / 2);
  // What the program allocates up to the next collection fits in the free runs that kept
  // their pages: old space does not grow, and neither does its resident set.
  size_t committed = h.space.oldSpace().committedBytes();
  size_t resident = h.space.residentBytes();
  Handle next(h.space, h.array(threshold / kRunBytes, Tenure::Old));
  for (size_t i = 0; i < threshold / kRunBytes; i++) {
    h.space.storePointer(next.get(), i, h.space.allocate(h.arrayClass, Format::Indexable, kRunSlots, Tenure::Old));
  }
  CHECK(h.space.stats().fullCollections == fullCollections);
  CHECK(h.space.oldSpace().committedBytes() == committed);
  INFO("resident before " << resident << ", after " << h.space.residentBytes());
  CHECK(h.space.residentBytes() <= resident + Reservation::kPageSize);
  for (size_t i = 0; i < kRuns; i++) CHECK(TestHeap::x(keep.get().object()->slot(i)) == int64_t(i));
  h.verify();
}

// Garbage interleaved with live objects leaves free runs of 16 KiB: too small for a
// collection's page release (kReleaseFreeBytes), but an idle release returns them.
TEST_CASE("an idle release gives back the pages of garbage, the nursery's included, then costs nothing") {
  space::SpaceConfig config = space::test::smallConfig();
  config.gcStress = false;  // the test counts the collections a release makes
  TestHeap h(config);
  constexpr size_t kRuns = 1500;
  constexpr size_t kRunSlots = (size_t(16) << 10) / 8;
  Handle keep(h.space, h.array(kRuns, Tenure::Old));
  for (size_t i = 0; i < kRuns; i++) {
    h.space.storePointer(keep.get(), i, h.point(int64_t(i), 7, Tenure::Old));
    h.space.allocate(h.arrayClass, Format::Indexable, kRunSlots, Tenure::Old);  // garbage
  }
  h.space.collectGarbage();
  size_t fullCollections = h.space.stats().fullCollections;
  // Old garbage worth a full collection (more than idleFullGcBytes), and young garbage.
  for (int i = 0; i < 8; i++) h.space.allocate(h.arrayClass, Format::Indexable, (size_t(256) << 10) / 8, Tenure::Old);
  CHECK(h.space.oldSpace().allocatedSinceSweep() >= h.space.idleFullGcBytes());
  for (int i = 0; i < 20000; i++) h.point(i, i);
  // (Collections during the loop let later garbage reuse earlier runs: not all of it is
  // resident at once.)
  size_t before = h.space.residentBytes();
  CHECK(before >= size_t(4) << 20);

  size_t released = h.space.releaseMemoryWhileIdle();
  size_t after = h.space.residentBytes();
  INFO("resident before " << before << ", after " << after << ", released " << released);
  CHECK(released >= before / 2);
  CHECK(after < before / 3);
  CHECK(h.space.stats().fullCollections == fullCollections + 1);
  CHECK(h.space.nursery().eden.used() == 0);
  for (size_t i = 0; i < kRuns; i++) CHECK(TestHeap::x(keep.get().object()->slot(i)) == int64_t(i));
  h.verify();

  // Nothing allocated since: no collection, nothing released.
  CHECK(h.space.releaseMemoryWhileIdle() == 0);
  CHECK(h.space.stats().fullCollections == fullCollections + 1);
  CHECK(h.space.stats().idleReleases == 1);

  // A little young allocation: a scavenge (not a full collection) and eden's pages back.
  for (int i = 0; i < 5000; i++) h.point(i, i);
  size_t scavenges = h.space.stats().scavenges;
  CHECK(h.space.releaseMemoryWhileIdle() > 0);
  CHECK(h.space.stats().fullCollections == fullCollections + 1);
  CHECK(h.space.stats().scavenges == scavenges + 1);
  // The space is still usable: pages come back (zeroed) as it allocates again.
  for (int i = 0; i < 50000; i++) h.point(i, i);
  Oop big = h.space.allocate(h.arrayClass, Format::Indexable, kRunSlots, Tenure::Old);
  CHECK(big.object()->slot(kRunSlots - 1) == h.space.nil());
  h.verify();
}

// Old objects that die without any new old allocation (a client's buffers once its
// connection ends) are found only by a full collection: an idle release owes one after
// activity, and collects fully once the last full collection is idleFullGcIntervalMillis old.
TEST_CASE("an idle release collects fully after activity once the last full collection is old enough") {
  for (int64_t interval : {int64_t(0), int64_t(3600000)}) {
    space::SpaceConfig config = space::test::smallConfig();
    config.idleFullGcIntervalMillis = interval;
    config.gcStress = false;  // the test counts collections
    TestHeap h(config);
    {
      std::vector<Handle> buffers;
      for (int i = 0; i < 64; i++) {
        buffers.emplace_back(h.space,
                             h.space.allocate(h.bytesClass, Format::Bytes, (size_t(64) << 10) / 8, Tenure::Old));
        std::memset(buffers.back().get().object()->bytes(), 'x', size_t(64) << 10);  // touched: resident
      }
      h.space.collectGarbage();
      CHECK(h.space.releaseMemoryWhileIdle() > 0);  // after the activity: nursery pages
    }
    // The buffers died; nothing new was allocated old, a little young.
    for (int i = 0; i < 100; i++) h.point(i, i);
    size_t before = h.space.residentBytes();
    size_t fullCollections = h.space.stats().fullCollections;
    h.space.releaseMemoryWhileIdle();
    size_t after = h.space.residentBytes();
    INFO("interval " << interval << " ms: resident before " << before << ", after " << after);
    if (interval == 0) {
      CHECK(h.space.stats().fullCollections == fullCollections + 1);
      CHECK(after + (size_t(3) << 20) < before);
    } else {
      // Too soon: a scavenge only; the full collection stays owed.
      CHECK(h.space.stats().fullCollections == fullCollections);
      CHECK(after + (size_t(3) << 20) > before);
    }
    h.verify();
  }
}
// A snapshot armed ahead of its pause (image/ArmedProtection.h) loses its arming to a full
// collection and then protects the whole heap in the pause: the collections that can wait,
// wait while it is armed; one that cannot (an allocation that fails) drops the arming.
TEST_CASE("full collections that can wait do not drop a snapshot's arming") {
  space::SpaceConfig config = space::test::smallConfig();
  config.idleFullGcIntervalMillis = 0;
  config.gcStress = false;  // the test counts collections
  TestHeap h(config);
  bool disarmed = false;
  h.space.setSnapshotArming([&disarmed] { disarmed = true; });
  size_t fullCollections = h.space.stats().fullCollections;
  // Old allocation far past the threshold, then an idle release that owes a full collection.
  for (int i = 0; i < 64; i++) h.space.allocate(h.arrayClass, Format::Indexable, (size_t(64) << 10) / 8, Tenure::Old);
  for (int i = 0; i < 100; i++) h.point(i, i);
  h.space.releaseMemoryWhileIdle();
  CHECK(h.space.stats().fullCollections == fullCollections);
  CHECK_FALSE(disarmed);
  // The capture clears the arming: the owed collection happens at the next idle release.
  h.space.setSnapshotArming(nullptr);
  for (int i = 0; i < 100; i++) h.point(i, i);
  h.space.releaseMemoryWhileIdle();
  CHECK(h.space.stats().fullCollections == fullCollections + 1);
  // A collection that cannot wait drops the arming first.
  h.space.setSnapshotArming([&disarmed] { disarmed = true; });
  CHECK(h.space.collectGarbage());
  CHECK(disarmed);
  h.verify();
}

namespace {
// Old space as offsets from its reservation's base, so that two spaces can be compared:
// the segments, the free bytes, and every free list in order.
struct OldSpaceShape {
  std::vector<std::pair<uintptr_t, uintptr_t>> segments;
  std::vector<std::vector<uintptr_t>> freeLists;  // the exact lists by words, then the large one
  size_t liveBytes = 0, freeBytes = 0, committedBytes = 0;

  explicit OldSpaceShape(Space& space) {
    uintptr_t base = space.reservation().base();
    OldSpace::State s = space.oldSpace().state();
    for (const Segment& seg : s.segments) segments.push_back({seg.start - base, seg.top - base});
    auto walk = [&](uintptr_t chunk) {
      std::vector<uintptr_t> list;
      for (; chunk != 0; chunk = HeapObject::fromBlockStart(chunk)->slots()[0].bits()) list.push_back(chunk - base);
      freeLists.push_back(std::move(list));
    };
    for (uintptr_t head : s.exactLists) walk(head);
    walk(s.largeList);
    liveBytes = space.oldSpace().liveBytesAtLastSweep();
    freeBytes = space.oldSpace().freeBytes();
    committedBytes = space.oldSpace().committedBytes();
  }
  bool operator==(const OldSpaceShape&) const = default;
};

// Fills old space with objects of many sizes over several segments, some of them
// referenced from `keep` (every `keepEvery`th), and a few large arrays that die together
// so that whole segments empty.
void fillForSweep(TestHeap& h, Handle& keep, size_t keepEvery, uint64_t seed) {
  uint64_t x = seed;
  std::vector<Handle> large;
  for (size_t i = 0; i < 200000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    Oop o = h.space.allocate(h.arrayClass, Format::Indexable, size_t(x % 40 + 1), Tenure::Old);
    if (i % keepEvery == 0) h.space.storePointer(keep.get(), (i / keepEvery) % 4096, o);
    if (i % 40000 == 0) large.emplace_back(h.space, h.array((size_t(9) << 20) / 8, Tenure::Old));
  }
}
}  // namespace

TEST_CASE("a sweep shared among threads leaves old space as one thread's sweep does") {
  for (bool warmSpare : {false, true}) {
    CAPTURE(warmSpare);
    SpaceConfig config = space::test::smallConfig();
    config.gcStress = false;  // the spaces must collect at the same points
    config.minFullGcBytes = size_t(1) << 30;
    config.warmSpareSegment = warmSpare;  // the tails that keep their pages (MarkSweep::sweep)
    config.collectorThreads = 1;
    TestHeap alone(config);
    config.collectorThreads = 3;
    config.parallelCollectionBytes = 0;
    TestHeap shared(config);
    CHECK(alone.space.collectorThreadsForCollection() == nullptr);
    REQUIRE(shared.space.collectorThreadsForCollection() != nullptr);
    CHECK(shared.space.collectorThreadsForCollection()->workers() == 3);
    if (warmSpare) {
      // Where a segment opens depends on whether the spare's job on the PageReleaseThread
      // is done: take the first spare once it is ready, and prepare no other.
      for (TestHeap* h : {&alone, &shared}) {
        h->space.oldSpace().holdSpareSegment(true);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!h->space.oldSpace().spareSegmentReady() && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        REQUIRE(h->space.oldSpace().spareSegmentReady());
      }
    }
    Handle keepAlone(alone.space, alone.array(4096, Tenure::Old));
    Handle keepShared(shared.space, shared.array(4096, Tenure::Old));
    for (uint64_t round = 1; round <= 3; round++) {
      CAPTURE(round);
      fillForSweep(alone, keepAlone, 7 * round, 88172645463325252ull + round);
      fillForSweep(shared, keepShared, 7 * round, 88172645463325252ull + round);
      REQUIRE(alone.space.oldSpace().segments().size() >= 8);
      alone.space.collectGarbage();
      shared.space.collectGarbage();
      OldSpaceShape a(alone.space), s(shared.space);
      CHECK(s.segments == a.segments);
      CHECK(s.freeLists == a.freeLists);
      CHECK(s.liveBytes == a.liveBytes);
      CHECK(s.freeBytes == a.freeBytes);
      CHECK(s.committedBytes == a.committedBytes);
      CHECK(shared.space.stats().fullCollectionSweepNanos > 0);
      alone.verify();
      shared.verify();
    }
  }
}
