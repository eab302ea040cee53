// Identity swaps: becomeForward and swapIdentities with references from everywhere.
#include <vector>

#include "space/SpaceCheckpoint.h"
#include "tests/unit/space/TestHeap.h"

using namespace space;
using space::test::TestHeap;

namespace {

// References to each of `n` objects from: a young array, an old array, a handle each and
// a registered stack; answers the handles to the holders.
struct Referrers {
  Handle young, old, stack;
  std::vector<Handle> direct;
};

Referrers refer(TestHeap& h, const std::vector<Handle>& objects) {
  Referrers r;
  size_t n = objects.size();
  r.young = Handle(h.space, h.array(n));
  r.old = Handle(h.space, h.array(n, Tenure::Old));
  r.stack = Handle(h.space, h.stack(n + 1, n));
  for (size_t i = 0; i < n; i++) {
    h.space.storePointer(r.young.get(), i, objects[i].get());
    h.space.storePointer(r.old.get(), i, objects[i].get());
    h.space.storePointer(r.stack.get(), i + 1, objects[i].get());
    r.direct.emplace_back(h.space, objects[i].get());
  }
  return r;
}

std::vector<Oop> oopsOf(const std::vector<Handle>& handles) {
  std::vector<Oop> oops;
  for (const Handle& h : handles) oops.push_back(h.get());
  return oops;
}

// Pairs of different sizes: pair i is a point (i, 0) and an Array of `largeSize(i)` slots
// whose slot 0 holds -i, allocated with the tenures `smallTenure(i)` and `largeTenure(i)`.
struct SizedPairs {
  std::vector<Handle> small, large;
};

template <class Size, class SmallTenure, class LargeTenure>
SizedPairs sizedPairs(TestHeap& h, size_t n, Size largeSize, SmallTenure smallTenure, LargeTenure largeTenure) {
  SizedPairs p;
  for (size_t i = 0; i < n; i++) {
    p.small.emplace_back(h.space, h.point(int64_t(i), 0, smallTenure(i)));
    Oop big = h.array(largeSize(i), largeTenure(i));
    h.space.storePointer(big, 0, Oop::fromSmallInteger(-int64_t(i)));
    p.large.emplace_back(h.space, big);
  }
  return p;
}

}  // namespace

TEST_CASE("becomeForward of many pairs redirects every reference") {
  TestHeap h;
  const size_t n = 2000;
  std::vector<Handle> from, to;
  for (size_t i = 0; i < n; i++) {
    // Mix generations: half the old points are old, half of the new ones are young.
    from.emplace_back(h.space, h.point(int64_t(i), 0, i % 2 ? Tenure::Old : Tenure::Young));
    Oop p3 = h.space.allocate(h.pointClass, Format::Fixed, 3, i % 3 ? Tenure::Young : Tenure::Old);
    h.space.storePointer(p3, 0, Oop::fromSmallInteger(int64_t(i)));
    h.space.storePointer(p3, 1, Oop::fromSmallInteger(1));
    h.space.storePointer(p3, 2, Oop::fromSmallInteger(2));
    to.emplace_back(h.space, p3);
  }
  Referrers r = refer(h, from);
  std::vector<uint32_t> hashes;
  for (auto& f : from) hashes.push_back(h.space.identityHash(f.get()));

  h.space.becomeForward(oopsOf(from), oopsOf(to), CopyHash::Yes);

  // Eagerly fixed: handles and stacks never see a forwarder.
  for (size_t i = 0; i < n; i++) {
    CHECK(r.direct[i].get() == to[i].get());
    CHECK(r.stack.get().object()->slot(i + 1) == to[i].get());
    CHECK(h.space.identityHash(to[i].get()) == hashes[i]);
  }
  // Heap slots see forwarders until a collection replaces them; follow() resolves them.
  for (size_t i = 0; i < n; i++) {
    CHECK(Space::follow(r.young.get().object()->slot(i)) == to[i].get());
    CHECK(Space::follow(r.old.get().object()->slot(i)) == to[i].get());
  }
  h.verify();
  h.space.scavenge();
  h.verify();
  h.space.collectGarbage();
  for (size_t i = 0; i < n; i++) {
    Oop y = r.young.get().object()->slot(i);
    Oop o = r.old.get().object()->slot(i);
    CHECK(y == to[i].get());  // no forwarder left after a full collection
    CHECK(o == to[i].get());
    CHECK(y.object()->slotCount() == 3);
    CHECK(y.object()->slot(0).smallInteger() == int64_t(i));
  }
  h.verify();
}

TEST_CASE("swapIdentities exchanges same-sized objects in place, in either generation") {
  TestHeap h;
  Handle a(h.space, h.point(1, 1));
  Handle b(h.space, h.point(2, 2, Tenure::Old));
  Handle holder(h.space, h.array(2, Tenure::Old));
  h.space.storePointer(holder.get(), 0, a.get());
  h.space.storePointer(holder.get(), 1, b.get());
  uint32_t ha = h.space.identityHash(a.get()), hb = h.space.identityHash(b.get());
  Oop aBefore = a.get(), bBefore = b.get();
  Oop as[] = {a.get()};
  Oop bs[] = {b.get()};
  h.space.swapIdentities(as, bs);
  // Same addresses, exchanged contents: everything that referred to a now sees b.
  CHECK(a.get() == aBefore);
  CHECK(b.get() == bBefore);
  CHECK(TestHeap::x(holder.get().object()->slot(0)) == 2);
  CHECK(TestHeap::x(holder.get().object()->slot(1)) == 1);
  CHECK(h.space.identityHash(a.get()) == hb);
  CHECK(h.space.identityHash(b.get()) == ha);
  h.verify();
  h.space.collectGarbage();
  h.verify();
}

TEST_CASE("swapIdentities of objects of different sizes uses forwarders to copies") {
  TestHeap h;
  const size_t n = 500;
  SizedPairs pairs = sizedPairs(
      h, n, [](size_t) { return size_t(5); }, [](size_t) { return Tenure::Young; },
      [](size_t i) { return i % 2 ? Tenure::Old : Tenure::Young; });
  Referrers rs = refer(h, pairs.small), rl = refer(h, pairs.large);
  h.space.swapIdentities(oopsOf(pairs.small), oopsOf(pairs.large));
  for (size_t i = 0; i < n; i++) {
    Oop nowSmallRef = Space::follow(rs.young.get().object()->slot(i));
    Oop nowLargeRef = Space::follow(rl.old.get().object()->slot(i));
    CHECK(nowSmallRef.object()->slotCount() == 5);
    CHECK(nowSmallRef.object()->slot(0).smallInteger() == -int64_t(i));
    CHECK(nowLargeRef.object()->slotCount() == 2);
    CHECK(nowLargeRef.object()->slot(0).smallInteger() == int64_t(i));
    CHECK(rs.direct[i].get() == nowSmallRef);
    CHECK(rl.stack.get().object()->slot(i + 1) == nowLargeRef);
  }
  h.verify();
  h.space.collectGarbage();
  h.verify();
}

TEST_CASE("swapping two classes keeps instances with their class contents") {
  TestHeap h;
  ClassIndex ca = h.makeClass();
  ClassIndex cb = h.makeClass();
  Oop classA = h.space.classTable().at(ca), classB = h.space.classTable().at(cb);
  h.space.storePointer(classA, 0, Oop::fromSmallInteger(111));
  h.space.storePointer(classB, 0, Oop::fromSmallInteger(222));
  Oop as[] = {classA};
  Oop bs[] = {classB};
  h.space.swapIdentities(as, bs);
  // Index ca still designates the contents that were A's (Spur semantics).
  CHECK(h.space.classTable().at(ca).object()->slot(0).smallInteger() == 111);
  CHECK(h.space.classTable().at(cb).object()->slot(0).smallInteger() == 222);
  h.verify();
}

TEST_CASE("invalid become arguments are refused and change nothing") {
  TestHeap h;
  Handle p(h.space, h.point(1, 2));
  Handle q(h.space, h.point(3, 4));
  Oop nilArr[] = {h.space.nil()};
  Oop pArr[] = {p.get()};
  CHECK_THROWS_AS(h.space.becomeForward(nilArr, pArr, CopyHash::No), std::invalid_argument);
  Oop imm[] = {Oop::fromSmallInteger(3)};
  CHECK_THROWS_AS(h.space.becomeForward(imm, pArr, CopyHash::No), std::invalid_argument);
  Oop twice[] = {p.get(), p.get()};
  Oop two[] = {q.get(), q.get()};
  CHECK_THROWS_AS(h.space.swapIdentities(twice, two), std::invalid_argument);
  Handle r(h.space, h.point(5, 6));
  Oop pq[] = {p.get(), q.get()};
  Oop rr[] = {r.get(), r.get()};
  CHECK_THROWS_AS(h.space.swapIdentities(pq, rr), std::invalid_argument);  // after marking q
  Oop pImm[] = {p.get(), q.get()};
  Oop rImm[] = {r.get(), Oop::fromSmallInteger(7)};
  CHECK_THROWS_AS(h.space.swapIdentities(pImm, rImm), std::invalid_argument);
  Oop cyc1[] = {p.get(), q.get()};
  Oop cyc2[] = {q.get(), p.get()};
  CHECK_THROWS_AS(h.space.becomeForward(cyc1, cyc2, CopyHash::No), std::invalid_argument);
  CHECK(TestHeap::x(p.get()) == 1);
  CHECK_FALSE(p.get().object()->isForwarded());
  CHECK_FALSE(q.get().object()->isForwarded());
  h.verify();
}

TEST_CASE("swapIdentities without room for the copies throws and changes nothing") {
  auto config = space::test::smallConfig();
  config.maxOldBytes = size_t(5) << 20;  // 40k old pairs take 3.7 MiB, the copies 2.1 MiB more
  TestHeap h(config);
  const size_t n = 40000;
  Handle smalls(h.space, h.array(n, Tenure::Old));
  Handle larges(h.space, h.array(n, Tenure::Old));
  std::vector<Oop> as, bs;
  for (size_t i = 0; i < n; i++) {
    Oop p = h.point(int64_t(i), 0, Tenure::Old);
    h.space.storePointer(smalls.get(), i, p);
    Oop big = h.array(5, Tenure::Old);
    h.space.storePointer(big, 0, Oop::fromSmallInteger(-int64_t(i)));
    h.space.storePointer(larges.get(), i, big);
  }
  for (size_t i = 0; i < n; i++) {
    as.push_back(smalls.get().object()->slot(i));
    bs.push_back(larges.get().object()->slot(i));
  }
  CHECK_THROWS_AS(h.space.swapIdentities(as, bs), HeapExhausted);
  for (size_t i = 0; i < n; i += 997) {
    Oop p = smalls.get().object()->slot(i);
    CHECK_FALSE(p.object()->isForwarded());
    CHECK(p.object()->slotCount() == 2);
    CHECK(TestHeap::x(p) == int64_t(i));
    CHECK(larges.get().object()->slot(i).object()->slot(0).smallInteger() == -int64_t(i));
  }
  h.verify();
  h.space.collectGarbage();
  h.verify();
}

TEST_CASE("swapIdentities with the larger objects first, young and old, in both copy paths") {
  TestHeap h;
  const size_t n = 400;
  auto largeSize = [](size_t i) { return i % 4 == 0 ? size_t(300) : size_t(5); };  // 300: overflow word, two copies
  SizedPairs pairs = sizedPairs(
      h, n, largeSize, [](size_t i) { return i % 3 ? Tenure::Old : Tenure::Young; },
      [](size_t i) { return i % 2 ? Tenure::Old : Tenure::Young; });
  Referrers rs = refer(h, pairs.small), rl = refer(h, pairs.large);
  // Each young larger object without an overflow word takes the smaller identity in its
  // own memory and leaves a filler (a free chunk) behind it in the nursery. (The GC-stress
  // build has tenured them all by now: no fillers there.)
  size_t expectedFillers = 0;
  for (const Handle& l : pairs.large) {
    expectedFillers += h.space.isYoung(l.get()) && !l.get().object()->hasOverflowWord();
  }
  h.space.swapIdentities(oopsOf(pairs.large), oopsOf(pairs.small));
  size_t nurseryFillers = 0;
  const Nursery& nursery = h.space.nursery();
  for (const BumpRegion* region : {&nursery.eden, &nursery.fromSurvivor()}) {
    for (uintptr_t p = region->start; p < region->top;) {
      HeapObject* o = HeapObject::fromBlockStart(p);
      nurseryFillers += o->classIndex() == reserved_class::kFreeChunk;
      p += o->totalBytes();
    }
  }
  CHECK(nurseryFillers == expectedFillers);
  CHECK((space::kGcStressBuild || expectedFillers > 0));
  size_t points = 0, freeChunks = 0;
  h.space.forEachObject([&](HeapObject* o) {
    points += o->classIndex() == h.pointClass;
    freeChunks += o->classIndex() == reserved_class::kFreeChunk;
  });
  CHECK(points == n);
  CHECK(freeChunks == 0);
  h.verify();
  auto check = [&] {
    for (size_t i = 0; i < n; i++) {
      Oop wasSmall = Space::follow(rs.old.get().object()->slot(i));
      Oop wasLarge = Space::follow(rl.young.get().object()->slot(i));
      CHECK(wasSmall.object()->slotCount() == largeSize(i));
      CHECK(wasSmall.object()->slot(0).smallInteger() == -int64_t(i));
      CHECK(wasLarge.object()->slotCount() == 2);
      CHECK(TestHeap::x(wasLarge) == int64_t(i));
      CHECK(Space::follow(rl.stack.get().object()->slot(i + 1)) == wasLarge);
    }
  };
  check();
  h.space.scavenge();
  h.verify();
  check();
  h.space.collectGarbage();
  h.verify();
  check();
}

TEST_CASE("swapIdentities remembers old memory that receives references to young objects") {
  TestHeap h;
  const size_t n = 300;
  std::vector<Handle> small, large;
  for (size_t i = 0; i < n; i++) {
    // Old objects holding young ones: after the swap their contents sit in other old
    // memory (a copy, or the larger object's), which must then be remembered.
    // (Held by handles before the next allocation, which may collect.)
    small.emplace_back(h.space, h.point(int64_t(i), 0, Tenure::Old));
    Oop young = h.point(int64_t(i), 1);
    h.space.storePointer(small.back().get(), 1, young);
    large.emplace_back(h.space, h.array(i % 2 ? 3 : 2, Tenure::Old));  // different and equal sizes
    young = h.point(-int64_t(i), 2);
    h.space.storePointer(large.back().get(), 0, young);
  }
  h.space.swapIdentities(oopsOf(small), oopsOf(large));
  h.verify();  // fails on an old object that refers to a young one unremembered
  h.space.scavenge();
  h.verify();
  for (size_t i = 0; i < n; i++) {
    Oop wasSmall = small[i].get();
    Oop wasLarge = large[i].get();
    CHECK(TestHeap::x(wasSmall.object()->slot(0)) == -int64_t(i));
    CHECK(TestHeap::y(wasSmall.object()->slot(0)) == 2);
    CHECK(TestHeap::x(wasLarge.object()->slot(1)) == int64_t(i));
    CHECK(TestHeap::y(wasLarge.object()->slot(1)) == 1);
  }
}

TEST_CASE("under a checkpoint, becomeForward writes only the stacks that refer to what it forwards") {
  TestHeap h;
  // Sixteen stacks, a page or more apart, that refer to none of the pair, and one that does.
  std::vector<Handle> unrelated;
  for (int i = 0; i < 16; i++) {
    unrelated.emplace_back(h.space, h.stack(1024, 3));
    for (size_t k = 1; k <= 3; k++)
      h.space.storePointer(unrelated.back().get(), k, h.point(int64_t(k), 0, Tenure::Old));
  }
  Handle referring(h.space, h.stack(4, 1));
  Handle from(h.space, h.point(1, 2, Tenure::Old));
  Handle to(h.space, h.point(3, 4, Tenure::Old));
  h.space.storePointer(referring.get(), 1, from.get());
  SpaceCheckpoint cp(h.space);
  h.space.becomeForward(std::vector<Oop>{from.get()}, std::vector<Oop>{to.get()}, CopyHash::Yes);
  CHECK(referring.get().object()->slot(1) == to.get());
  // The pages of the pair and of the referring stack at most: a write to each stack
  // would have saved sixteen pages more.
  CHECK(cp.pagesSaved() <= 6);
  cp.commit();
  h.verify();
}
