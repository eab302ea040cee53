// InstanceCensusTest: a census walked in steps while the program allocates, collects the
// nursery and forwards objects finds exactly what a walk of the whole heap finds, and
// whatever would break it drops it.
#include <chrono>
#include <set>
#include <vector>

#include "space/InstanceCensus.h"
#include "tests/unit/space/TestHeap.h"

using namespace space;
using space::test::TestHeap;

namespace {

// The instances of `c` as a walk of every object sees them.
std::set<uintptr_t> byHeapWalk(Space& s, ClassIndex c) {
  std::set<uintptr_t> found;
  s.forEachObject([&](HeapObject* o) {
    if (o->classIndex() == c) found.insert(reinterpret_cast<uintptr_t>(o));
  });
  return found;
}

// The instances of `c` as forEachInstanceOf answers them; each must come once.
std::set<uintptr_t> byInstanceSearch(Space& s, ClassIndex c) {
  std::vector<uintptr_t> all;
  s.forEachInstanceOf(c, [&](HeapObject* o) { all.push_back(reinterpret_cast<uintptr_t>(o)); });
  std::set<uintptr_t> found(all.begin(), all.end());
  CHECK(found.size() == all.size());
  return found;
}

}  // namespace

TEST_CASE("a census walked in steps while the program runs finds exactly what a heap walk finds") {
  SpaceConfig config = space::test::smallConfig();
  config.minFullGcBytes = size_t(64) << 20;  // no full collection, which would drop the census
  config.gcStress = false;                   // nor one at every allocation
  TestHeap h(config);
  Space& s = h.space;
  Handle keep(s, h.array(40000, Tenure::Old));
  size_t kept = 0;
  auto hold = [&](Oop o) { s.storePointer(keep.get(), kept++ % 40000, o); };
  // Old space with points among other objects, and free chunks between them.
  for (int i = 0; i < 6000; i++) {
    Oop p = h.point(i, i, Tenure::Old);
    Oop a = h.array(5, Tenure::Old);
    if (i % 3 != 0) hold(p);
    if (i % 2 == 0) hold(a);
  }
  REQUIRE(s.collectGarbage());
  size_t before = byHeapWalk(s, h.pointClass).size();

  s.openCensus({h.pointClass});
  REQUIRE(s.census() != nullptr);
  int steps = 0;
  int64_t i = 0;
  while (!s.censusStep(std::chrono::microseconds(0))) {
    steps++;
    // What a program does between two steps: old objects (into free chunks behind the
    // walk and ahead of it), young ones, a scavenge that promotes, forwarding.
    hold(h.point(i, -i, Tenure::Old));
    hold(h.array(3, Tenure::Old));
    for (int k = 0; k < 50; k++) hold(h.point(i, k));
    if (steps % 4 == 0) s.scavenge();
    if (steps % 5 == 0) {
      Oop from = keep.get().object()->slot((kept - 7) % 40000);
      Oop to = h.point(-1, -1, Tenure::Old);
      if (from.isHeapObject() && from.object()->classIndex() == h.pointClass) {
        Oop a[] = {from};
        Oop b[] = {to};
        s.becomeForward(a, b, CopyHash::Yes);
      }
    }
    i++;
  }
  CHECK(steps > 3);  // it took several steps
  REQUIRE(s.census() != nullptr);
  // After the walk: a segment opened since (more than a segment's worth of arrays), and
  // objects in it.
  size_t segments = s.oldSpace().segments().size();
  for (int k = 0; k < 40; k++) hold(h.array(30000, Tenure::Old));
  CHECK(s.oldSpace().segments().size() > segments);
  for (int k = 0; k < 100; k++) hold(h.point(k, k, Tenure::Old));
  for (int k = 0; k < 100; k++) hold(h.point(k, k));

  std::set<uintptr_t> expected = byHeapWalk(s, h.pointClass);
  CHECK(expected.size() > before);
  REQUIRE(s.census() != nullptr);
  CHECK(byInstanceSearch(s, h.pointClass) == expected);
  CHECK(s.census()->foundCount() > 0);
  CHECK(s.census()->blocksAllocatedBehind() > 0);
  // A class the census does not cover: a walk of the whole heap answers.
  CHECK(byInstanceSearch(s, h.arrayClass) == byHeapWalk(s, h.arrayClass));
  s.dropCensus();
  CHECK(byInstanceSearch(s, h.pointClass) == expected);
  h.verify();
}

TEST_CASE("a full collection, an identity swap or a class change in place drops the census") {
  SpaceConfig config = space::test::smallConfig();
  config.gcStress = false;  // each drop below is the one the test makes
  TestHeap h(config);
  Space& s = h.space;
  Handle keep(s, h.array(100, Tenure::Old));
  for (int i = 0; i < 100; i++) s.storePointer(keep.get(), size_t(i), h.point(i, i, Tenure::Old));
  auto census = [&] {
    s.openCensus({h.pointClass});
    while (!s.censusStep(std::chrono::microseconds(50))) {
    }
    REQUIRE(s.census() != nullptr);
  };
  census();
  REQUIRE(s.collectGarbage());
  CHECK(s.census() == nullptr);

  census();
  Oop a[] = {keep.get().object()->slot(0)};
  Oop b[] = {h.array(2, Tenure::Old)};
  s.swapIdentities(a, b);  // the point's memory now holds the array, and the other way round
  CHECK(s.census() == nullptr);
  CHECK(byInstanceSearch(s, h.pointClass) == byHeapWalk(s, h.pointClass));

  census();
  s.noteClassChangedInPlace();
  CHECK(s.census() == nullptr);
  h.verify();
}

TEST_CASE("a census counts what it found of each class it covers") {
  SpaceConfig config = space::test::smallConfig();
  config.gcStress = false;  // a collection at every allocation would drop the census
  TestHeap h(config);
  Space& s = h.space;
  Handle keep(s, h.array(3000, Tenure::Old));
  for (int i = 0; i < 1000; i++) {
    s.storePointer(keep.get(), size_t(i), h.point(i, i, Tenure::Old));
    s.storePointer(keep.get(), size_t(1000 + 2 * i), h.array(2, Tenure::Old));
  }
  REQUIRE(s.collectGarbage());
  s.openCensus({h.pointClass, h.arrayClass});
  while (!s.censusStep(std::chrono::microseconds(100))) {
  }
  REQUIRE(s.census() != nullptr);
  CHECK(s.census()->foundOf(h.pointClass) == byHeapWalk(s, h.pointClass).size());
  CHECK(s.census()->foundOf(h.pointClass) == 1000);
  CHECK(s.census()->foundOf(h.arrayClass) == byHeapWalk(s, h.arrayClass).size());
  CHECK(s.census()->foundOf(h.arrayClass) >= 1001);  // and the Arrays the kernel made
  CHECK(s.census()->foundOf(h.bytesClass) == 0);     // not covered
}
