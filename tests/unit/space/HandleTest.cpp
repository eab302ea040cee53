// Handles and local roots: references from outside the heap follow objects as they move.
#include <algorithm>
#include <vector>

#include "tests/unit/space/TestHeap.h"

using namespace space;
using space::test::TestHeap;

TEST_CASE("handles follow objects through scavenges, promotion and full collections") {
  TestHeap h;
  std::vector<Handle> handles;
  for (int i = 0; i < 300; i++) handles.emplace_back(h.space, h.point(i, i * i));
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 3000; i++) h.point(-1, -1);
    h.space.scavenge();
  }
  h.space.collectGarbage();
  for (int i = 0; i < 300; i++) {
    CHECK(TestHeap::x(handles[size_t(i)].get()) == i);
    CHECK(TestHeap::y(handles[size_t(i)].get()) == i * i);
  }
  size_t live = h.space.handles().liveCount();
  handles.clear();
  CHECK(h.space.handles().liveCount() == live - 300);
  h.verify();
}

TEST_CASE("released handles no longer keep objects alive") {
  TestHeap h;
  h.space.collectGarbage();
  size_t base = h.space.oldSpace().liveBytesAtLastSweep();
  {
    Handle big(h.space, h.space.allocate(h.arrayClass, Format::Indexable, 1 << 16, Tenure::Old));
    h.space.collectGarbage();
    CHECK(h.space.oldSpace().liveBytesAtLastSweep() >= base + (1 << 19));
  }
  h.space.collectGarbage();
  CHECK(h.space.oldSpace().liveBytesAtLastSweep() == base);
}

TEST_CASE("local roots protect C++ temporaries across allocation") {
  auto config = space::test::smallConfig();
  config.gcStress = true;  // every allocation collects
  TestHeap h(config);
  LocalRoot a(h.space.localRoots(), h.point(5, 6));
  LocalRoot b(h.space.localRoots(), h.point(7, 8));
  Oop pair = h.array(2);
  h.space.storePointer(pair, 0, a.get());
  h.space.storePointer(pair, 1, b.get());
  CHECK(TestHeap::x(pair.object()->slot(0)) == 5);
  CHECK(TestHeap::y(pair.object()->slot(1)) == 8);
  h.verify();
}

TEST_CASE("weak entries follow moves and report the objects that died") {
  TestHeap heap;
  Space& s = heap.space;
  std::vector<WeakRegistry::Token> died;
  WeakRegistry::Owner owner = s.weakRegistry().addOwner(
      [&](std::span<const WeakRegistry::Token> tokens) { died.insert(died.end(), tokens.begin(), tokens.end()); });
  Handle kept(s, heap.array(2));
  s.weakRegistry().add(kept.get(), 1, owner);
  s.weakRegistry().add(heap.array(2), 2, owner);  // garbage at once
  Handle old(s, heap.array(2, Tenure::Old));
  s.weakRegistry().add(old.get(), 3, owner);
  s.scavenge();
  CHECK(died == std::vector<WeakRegistry::Token>{2});
  // Entries follow identities through moves and swaps, like handles.
  s.weakRegistry().add(kept.get(), 4, owner);
  Handle swapped(s, heap.array(3));
  s.swapIdentities(std::vector<Oop>{kept.get()}, std::vector<Oop>{swapped.get()});
  s.scavenge();
  CHECK(died == std::vector<WeakRegistry::Token>{2});
  swapped.reset();  // no entry watches that identity
  CHECK(s.weakRegistry().size() == 3);
  old.reset();
  s.collectGarbage();
  CHECK(died == std::vector<WeakRegistry::Token>{2, 3});
  kept.reset();
  s.collectGarbage();
  CHECK(died.size() == 4);
  CHECK(std::count(died.begin(), died.end(), 1) == 1);
  CHECK(std::count(died.begin(), died.end(), 4) == 1);
  heap.verify();
  CHECK(s.weakRegistry().size() == 0);
}
