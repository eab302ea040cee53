// Old-space collection: marking from roots, sweeping into free lists, segment release.
#include <vector>

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
