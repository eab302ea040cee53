// Allocation: object layout, formats, large objects, symbols and identity hashes.
#include <cstring>
#include <limits>
#include <string>

#include "tests/unit/space/TestHeap.h"

using namespace space;
using space::test::TestHeap;

TEST_CASE("tagged immediates round-trip") {
  for (int64_t v : {int64_t(0), int64_t(1), int64_t(-1), Oop::kSmallIntegerMax, Oop::kSmallIntegerMin}) {
    Oop o = Oop::fromSmallInteger(v);
    CHECK(o.isSmallInteger());
    CHECK_FALSE(o.isHeapObject());
    CHECK(o.smallInteger() == v);
  }
  CHECK(Oop::fitsSmallInteger(Oop::kSmallIntegerMax));
  CHECK_FALSE(Oop::fitsSmallInteger(Oop::kSmallIntegerMax + 1));
  Oop c = Oop::fromCharacter(0x1F600);
  CHECK(c.isCharacter());
  CHECK(c.character() == 0x1F600u);
  CHECK_FALSE(c.isSmallInteger());
}

TEST_CASE("young allocation initializes slots and header") {
  TestHeap h;
  Oop a = h.array(10);
  REQUIRE(a.isHeapObject());
  CHECK(h.space.isYoung(a));
  CHECK(a.object()->slotCount() == 10);
  CHECK(a.object()->format() == Format::Indexable);
  CHECK(a.object()->classIndex() == h.arrayClass);
  for (size_t i = 0; i < 10; i++) CHECK(a.object()->slot(i) == h.space.nil());

  Oop b = h.space.allocateBytes(h.bytesClass, 13);
  CHECK(b.object()->byteLength() == 13);
  CHECK(b.object()->slotCount() == 2);
  for (size_t i = 0; i < 13; i++) CHECK(b.object()->bytes()[i] == 0);

  Oop empty = h.space.allocateBytes(h.bytesClass, 0);
  CHECK(empty.object()->byteLength() == 0);
  CHECK(empty.object()->totalBytes() == 16);  // every object owns a hidden word
  h.verify();
}

TEST_CASE("objects with 255 or more slots use an overflow word") {
  TestHeap h;
  for (size_t n : {size_t(254), size_t(255), size_t(256), size_t(1000)}) {
    Oop a = h.array(n);
    CHECK(a.object()->slotCount() == n);
    CHECK(a.object()->hasOverflowWord() == (n >= 255));
    CHECK(a.object()->totalBytes() == 8 * (n + 1 + (n >= 255 ? 1 : 0)));
    h.space.storePointer(a, n - 1, Oop::fromSmallInteger(int64_t(n)));
  }
  h.space.scavenge();
  h.verify();
}

TEST_CASE("large objects are allocated directly in old space and survive collection") {
  TestHeap h;
  size_t n = 100000;  // 800 KB, above the 32 KB large-object threshold
  Oop big = h.array(n);
  CHECK_FALSE(h.space.isYoung(big));
  Handle keep(h.space, big);
  h.space.storePointer(big, n - 1, h.point(3, 4));  // old -> young: remembered
  CHECK(big.object()->isRemembered());
  h.space.scavenge();
  h.space.collectGarbage();
  Oop p = keep.get().object()->slot(n - 1);
  CHECK(TestHeap::x(p) == 3);
  CHECK(TestHeap::y(p) == 4);
  Oop bytes = h.space.allocateBytes(h.bytesClass, size_t(3) << 20);
  CHECK_FALSE(h.space.isYoung(bytes));
  CHECK(bytes.object()->byteLength() == size_t(3) << 20);
  h.verify();
}

TEST_CASE("symbols are unique per space and survive collections") {
  TestHeap h;
  Oop a = h.space.symbols().intern("doesNotUnderstand:");
  Oop b = h.space.symbols().intern("doesNotUnderstand:");
  CHECK(a == b);
  CHECK(h.space.symbols().lookup("value").isNull());
  Oop v = h.space.symbols().intern("value");
  CHECK(v != a);
  for (int i = 0; i < 5000; i++) h.space.symbols().intern("sym" + std::to_string(i));
  h.space.collectGarbage();
  CHECK(h.space.symbols().intern("sym4321") == h.space.symbols().lookup("sym4321"));
  CHECK(h.space.symbols().intern("doesNotUnderstand:") == a);
  CHECK(std::memcmp(a.object()->bytes(), "doesNotUnderstand:", 18) == 0);
  CHECK(h.space.symbols().count() == 5002);
  h.verify();
}

TEST_CASE("identity hashes are stable across scavenges and full collections") {
  TestHeap h;
  Handle p(h.space, h.point(1, 2));
  uint32_t hash = h.space.identityHash(p.get());
  CHECK(hash != 0);
  h.space.scavenge();
  CHECK(h.space.identityHash(p.get()) == hash);
  h.space.scavenge();
  h.space.scavenge();  // promoted by now
  CHECK_FALSE(h.space.isYoung(p.get()));
  CHECK(h.space.identityHash(p.get()) == hash);
  h.space.collectGarbage();
  CHECK(h.space.identityHash(p.get()) == hash);
}

TEST_CASE("class table grows and a class's hash is its index") {
  TestHeap h;
  std::vector<ClassIndex> indexes;
  for (int i = 0; i < 3000; i++) indexes.push_back(h.makeClass());
  for (size_t i = 1; i < indexes.size(); i++) CHECK(indexes[i] != indexes[i - 1]);
  Oop cls = h.space.classTable().at(indexes.back());
  CHECK(cls.object()->rawHash() == indexes.back());
  h.space.collectGarbage();
  CHECK(h.space.classTable().at(indexes.back()) == cls);
  h.verify();
}

TEST_CASE("allocation beyond the heap limit throws HeapExhausted and the space stays usable") {
  auto config = space::test::smallConfig();
  config.maxOldBytes = size_t(32) << 20;
  TestHeap h(config);
  // A linked list of 1 MiB arrays: slot 0 links to the previous one, so all stay alive.
  Handle keep(h.space, h.space.nil());
  bool thrown = false;
  try {
    for (int i = 0; i < 100; i++) {
      Oop a = h.space.allocate(h.arrayClass, Format::Indexable, 1 << 17);
      h.space.storePointer(a, 0, keep.get());
      keep.set(a);
    }
  } catch (const HeapExhausted&) {
    thrown = true;
  }
  CHECK(thrown);
  keep.reset();
  h.space.collectGarbage();
  Oop a = h.space.allocate(h.arrayClass, Format::Indexable, 1 << 17);
  CHECK(a.isHeapObject());
  h.verify();
}

TEST_CASE("SmallFloats encode doubles in range exactly and refuse the others") {
  double inRange[] = {0.0, -0.0, 1.0, -1.0, 0.5, 3.141592653589793, 1e-30, 1e30, -2.5e10, 1.7976931348623157e38};
  for (double d : inRange) {
    Oop o;
    REQUIRE(Oop::tryFromDouble(d, o));
    CHECK(o.isSmallFloat());
    CHECK_FALSE(o.isHeapObject());
    double back = o.smallFloat();
    CHECK(std::memcmp(&back, &d, sizeof d) == 0);  // bit-exact, including -0.0
  }
  double outOfRange[] = {1e300,
                         -1e300,
                         1e-300,
                         std::numeric_limits<double>::infinity(),
                         std::numeric_limits<double>::quiet_NaN(),
                         5.877471754111438e-39};
  for (double d : outOfRange) {
    Oop o;
    CHECK_FALSE(Oop::tryFromDouble(d, o));
  }
}

TEST_CASE("SmallFloats: the edges of the exponent range, both signs, and zeros") {
  // Exponents 896 and 1151 are the range's ends; 896 with a zero mantissa would read back
  // as a zero (the encoded value 0 or 1 is how zeros are stored), so it is boxed.
  auto fromBits = [](uint64_t bits) {
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  };
  for (uint64_t sign : {uint64_t(0), uint64_t(1) << 63}) {
    for (uint64_t exponent :
         {uint64_t(895), uint64_t(896), uint64_t(897), uint64_t(1150), uint64_t(1151), uint64_t(1152)}) {
      for (uint64_t mantissa : {uint64_t(0), uint64_t(1), (uint64_t(1) << 52) - 1}) {
        double d = fromBits(sign | (exponent << 52) | mantissa);
        bool expected = exponent >= 896 && exponent <= 1151 && !(exponent == 896 && mantissa == 0);
        Oop o;
        CHECK(Oop::tryFromDouble(d, o) == expected);
        if (!expected) continue;
        CHECK(o.isSmallFloat());
        double back = o.smallFloat();
        CHECK(std::memcmp(&back, &d, sizeof d) == 0);
      }
    }
  }
  Oop zero, negativeZero;
  REQUIRE(Oop::tryFromDouble(0.0, zero));
  REQUIRE(Oop::tryFromDouble(-0.0, negativeZero));
  CHECK(zero.bits() == 4);
  CHECK(negativeZero.bits() == 12);
}

TEST_CASE("old space's large free list: the chunks listed last are allocated after every other one, in order") {
  Reservation reservation(size_t(16) << 20, 0);
  OldSpace old(reservation, reservation.base(), size_t(16) << 20);
  constexpr size_t kChunkBytes = 4096;
  std::vector<uintptr_t> chunks;
  for (int i = 0; i < 6; i++) chunks.push_back(old.allocateBlock(kChunkBytes));
  for (uintptr_t c : chunks) old.addFreeChunk(c, kChunkBytes);  // listed newest first: 5 4 3 2 1 0
  const size_t freeBytes = old.freeBytes();
  old.listLargeChunksLast({chunks[0], chunks[5], chunks[2]});  // the last, the first and one between
  CHECK(old.freeBytes() == freeBytes);
  for (int i : {4, 3, 1, 5, 2, 0}) {
    CAPTURE(i);
    CHECK(old.allocateBlock(kChunkBytes) == chunks[size_t(i)]);
  }
  CHECK(old.freeBytes() == 0);
  old.listLargeChunksLast({});                                       // an empty list stays empty
  CHECK(old.allocateBlock(kChunkBytes) == chunks[5] + kChunkBytes);  // the bump area's next block
}
