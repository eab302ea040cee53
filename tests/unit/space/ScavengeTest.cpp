// Scavenging: copying, promotion, the write barrier and the remembered set.
#include <algorithm>
#include <chrono>
#include <thread>

#include "space/SpaceImage.h"
#include "tests/unit/space/TestHeap.h"

using namespace space;
using space::test::TestHeap;

TEST_CASE("a scavenge copies young objects reachable from handles and frees the rest") {
  auto config = space::test::smallConfig();
  config.gcStress = false;  // this test counts the bytes a single scavenge leaves behind
  TestHeap h(config);
  Handle live(h.space, h.point(7, 8));
  for (int i = 0; i < 1000; i++) h.point(i, i);  // garbage
  Oop before = live.get();
  size_t usedBefore = h.space.youngBytesInUse();
  h.space.scavenge();
  CHECK(live.get() != before);  // moved
  CHECK(h.space.isYoung(live.get()));
  CHECK(TestHeap::x(live.get()) == 7);
  CHECK(h.space.youngBytesInUse() < usedBefore);
  CHECK(h.space.youngBytesInUse() == 24);  // just the point: header + 2 slots
  h.verify();
}

TEST_CASE("young objects referenced only from old space survive through the remembered set") {
  TestHeap h;
  Oop holder = h.array(100, Tenure::Old);
  Handle keepHolder(h.space, holder);
  for (int i = 0; i < 100; i++) h.space.storePointer(holder, size_t(i), h.point(i, -i));
  CHECK(holder.object()->isRemembered());
  CHECK(h.space.rememberedSet().size() == 1);
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < 2000; i++) h.point(0, 0);  // churn
    h.space.scavenge();
    h.verify();
  }
  for (int i = 0; i < 100; i++) {
    Oop p = holder.object()->slot(size_t(i));
    CHECK(TestHeap::x(p) == i);
    CHECK(TestHeap::y(p) == -i);
    CHECK_FALSE(h.space.isYoung(p));  // promoted after tenureAge scavenges
  }
  // Nothing young is left behind the holder: it drops out of the remembered set.
  CHECK_FALSE(holder.object()->isRemembered());
  CHECK(h.space.rememberedSet().size() == 0);
}

TEST_CASE("a large old array is remembered by the cards it was stored into; a scavenge scans those and keeps them") {
  auto config = space::test::smallConfig();
  config.gcStress = false;  // the remembered set is checked between collections
  TestHeap h(config);
  constexpr size_t kCard = RememberedSet::kCardSlots;
  const size_t n = 40 * kCard;
  Handle big(h.space, h.array(n, Tenure::Old));
  REQUIRE(RememberedSet::carded(big.get().object()));
  REQUIRE_FALSE(RememberedSet::carded(h.array(RememberedSet::kMinCardedSlots - 1, Tenure::Old).object()));
  h.space.storePointer(big.get(), 5, h.point(5, 5));
  h.space.storePointer(big.get(), 30 * kCard + 7, h.point(30, 30));
  h.space.storePointer(big.get(), 30 * kCard + 9, Oop::fromSmallInteger(1));  // not young: no card
  const RememberedSet::Cards* cards = h.space.rememberedSet().cardsOf(big.get().object());
  REQUIRE(cards != nullptr);
  for (size_t c = 0; c < n / kCard; c++) CHECK(RememberedSet::marked(*cards, c) == (c == 0 || c == 30));
  h.verify();

  // A scavenge moves both points and keeps the two cards; the array stays remembered by them.
  h.space.scavenge();
  h.verify();
  CHECK(TestHeap::x(big.get().object()->slot(5)) == 5);
  CHECK(TestHeap::x(big.get().object()->slot(30 * kCard + 7)) == 30);
  cards = h.space.rememberedSet().cardsOf(big.get().object());
  REQUIRE(cards != nullptr);
  for (size_t c = 0; c < n / kCard; c++) CHECK(RememberedSet::marked(*cards, c) == (c == 0 || c == 30));

  // Overwriting card 30's young reference with an old one leaves card 0 alone after the next scavenge.
  h.space.storePointer(big.get(), 30 * kCard + 7, Oop::fromSmallInteger(0));
  h.space.scavenge();
  h.verify();
  cards = h.space.rememberedSet().cardsOf(big.get().object());
  REQUIRE(cards != nullptr);
  for (size_t c = 0; c < n / kCard; c++) CHECK(RememberedSet::marked(*cards, c) == (c == 0));

  // A store without an index (bulk stores, become) remembers the whole array: the next
  // scavenge scans every slot, and records the cards it found young references in.
  big.get().object()->slots()[20 * kCard] = h.point(20, 20);
  h.space.rememberIfOld(big.get().object());
  CHECK(h.space.rememberedSet().cardsOf(big.get().object()) == nullptr);
  h.verify();
  h.space.scavenge();
  h.verify();
  CHECK(TestHeap::x(big.get().object()->slot(20 * kCard)) == 20);
  cards = h.space.rememberedSet().cardsOf(big.get().object());
  REQUIRE(cards != nullptr);
  bool fiveYoung = h.space.isYoung(big.get().object()->slot(5));  // promoted by now at a tenure age of 3
  for (size_t c = 0; c < n / kCard; c++) CHECK(RememberedSet::marked(*cards, c) == ((c == 0 && fiveYoung) || c == 20));

  // Once every young reference is promoted, the array leaves the remembered set.
  for (unsigned i = 0; i < config.tenureAge; i++) h.space.scavenge();
  h.verify();
  CHECK_FALSE(big.get().object()->isRemembered());
  CHECK(h.space.rememberedSet().cardsOf(big.get().object()) == nullptr);
  CHECK(TestHeap::y(big.get().object()->slot(5)) == 5);
  CHECK(TestHeap::y(big.get().object()->slot(20 * kCard)) == 20);
}

TEST_CASE("promoted objects that still point at survivors are remembered") {
  auto config = space::test::smallConfig();
  TestHeap h(config);
  Handle a(h.space, h.array(2));
  for (unsigned i = 0; i < config.tenureAge; i++) h.space.scavenge();  // a is promoted...
  CHECK_FALSE(h.space.isYoung(a.get()));
  Oop fresh = h.point(1, 1);
  h.space.storePointer(a.get(), 0, fresh);  // ...then gets a young reference
  h.space.scavenge();
  CHECK(a.get().object()->isRemembered());
  CHECK(h.space.isYoung(a.get().object()->slot(0)));
  h.verify();
}

TEST_CASE("long young chains survive (no recursion in the copier)") {
  TestHeap h;
  Handle head(h.space, h.space.nil());
  for (int i = 0; i < 5000; i++) {
    Oop cell = h.array(2);
    h.space.storePointer(cell, 0, Oop::fromSmallInteger(i));
    h.space.storePointer(cell, 1, head.get());
    head.set(cell);
  }
  h.space.scavenge();
  int n = 0;
  for (Oop c = head.get(); c != h.space.nil(); c = c.object()->slot(1)) {
    CHECK(c.object()->slot(0).smallInteger() == 4999 - n);
    n++;
  }
  CHECK(n == 5000);
  h.verify();
}

TEST_CASE("stacks are scanned only up to their top slot") {
  TestHeap h;
  Oop stack = h.stack(64, 3);
  Handle keep(h.space, stack);
  h.space.setActiveStack(stack);
  stack.object()->slots()[1] = h.point(1, 2);  // written without a barrier: active stack
  stack.object()->slots()[3] = h.point(3, 4);
  stack.object()->slots()[10] = Oop::fromSmallInteger(99);  // above top: dead
  h.space.scavenge();
  CHECK(TestHeap::x(stack.object()->slot(1)) == 1);
  CHECK(TestHeap::x(stack.object()->slot(3)) == 3);
  // Switching away puts it in the remembered set, so its young refs stay visible.
  h.space.setActiveStack(Oop());
  CHECK(stack.object()->isRemembered());
  h.space.scavenge();
  h.space.scavenge();
  CHECK(TestHeap::y(stack.object()->slot(3)) == 4);
  h.verify();
}

TEST_CASE(
    "a snapshot takes the nursery as it is; while it holds the pages, promotion goes to the area prepared ahead") {
  auto config = space::test::smallConfig();
  config.gcStress = false;  // the area is prepared for a few scavenges, not one per allocation
  TestHeap h(config);
  // Free chunks all over old space: old garbage between old survivors, swept.
  std::vector<Handle> oldLive;
  for (int i = 0; i < 200; i++) {
    oldLive.emplace_back(h.space, h.array(8, Tenure::Old));
    h.array(8, Tenure::Old);  // garbage
  }
  h.space.collectGarbage();
  std::vector<Handle> young;
  for (int i = 0; i < 100; i++) young.emplace_back(h.space, h.point(i, i));
  // An old object referencing a young one: remembered, and so recorded.
  h.space.storePointer(oldLive[0].get(), 0, young[0].get());
  MemoryRange area = h.space.preparePromotionArea();
  REQUIRE(area.end > area.start);
  SpaceImageState state = SpaceImage::capture(h.space);
  std::vector<MemoryRange> pages = SpaceImage::pages(state);
  REQUIRE(!pages.empty());
  CHECK(pages.front().start == h.space.nursery().eden.start);
  for (int i = 0; i < 100; i++) {
    Oop o = young[size_t(i)].get();
    CHECK(h.space.isYoung(o));  // not tenured by the capture
    CHECK(o.address() < pages.front().end);
  }
  CHECK(std::find(state.remembered.begin(), state.remembered.end(), oldLive[0].get()) != state.remembered.end());
  bool held = true;
  h.space.holdPages({.finish = [&held] { held = false; }});
  for (int i = 0; i < 20 && h.space.isYoung(young[0].get()); i++) h.space.scavenge();
  for (int i = 0; i < 100; i++) {
    uintptr_t a = young[size_t(i)].get().address();
    CHECK_FALSE(h.space.isYoung(young[size_t(i)].get()));
    CHECK((a >= area.start && a < area.end));
    CHECK(TestHeap::x(young[size_t(i)].get()) == i);
  }
  CHECK(held);
  h.space.releasePagesHold();
  h.verify();
}

TEST_CASE("a full collection that falls due while a snapshot holds the pages is deferred, and tells the hold once") {
  auto config = space::test::smallConfig();  // minFullGcBytes: 4 MiB
  config.gcStress = false;                   // the test counts the collections
  TestHeap h(config);
  h.space.collectGarbage();
  uint64_t fullBefore = h.space.stats().fullCollections;
  int owed = 0;
  bool finished = false;
  h.space.holdPages({.finish = [&finished] { finished = true; }, .owed = [&owed] { owed++; }});
  // 8 MiB of old garbage: twice the threshold, allocated straight into old space.
  for (int i = 0; i < 2048; i++) h.space.allocate(h.arrayClass, Format::Indexable, 511, Tenure::Old);
  CHECK(owed == 1);                                      // told once, at the threshold
  CHECK(h.space.stats().fullCollections == fullBefore);  // and nothing collected
  CHECK_FALSE(finished);
  h.space.releasePagesHold();
  // Without the hold the collection is due again and runs.
  h.space.allocate(h.arrayClass, Format::Indexable, 511, Tenure::Old);
  CHECK(h.space.stats().fullCollections == fullBefore + 1);
  CHECK(owed == 1);
  CHECK_FALSE(finished);
  h.verify();
}

TEST_CASE("the scavenge log holds each of the last scavenges' pause, numbered, the oldest dropped past its capacity") {
  ScavengeLog log;
  CHECK(log.count() == 0);
  CHECK(log.oldest() == 1);  // none held: oldest() is past count()
  for (uint64_t n = 1; n <= ScavengeLog::kCapacity + 10; n++) log.record(int64_t(n) * 1000, n * 7);
  CHECK(log.count() == ScavengeLog::kCapacity + 10);
  CHECK(log.oldest() == 11);
  CHECK(log.at(11).endMicros == 11000);
  CHECK(log.at(log.count()).nanos == log.count() * 7);

  TestHeap h;
  uint64_t before = h.space.scavengeLog().count();
  h.space.scavenge();
  h.space.scavenge();
  const ScavengeLog& recorded = h.space.scavengeLog();
  REQUIRE(recorded.count() == before + 2);
  CHECK(recorded.at(recorded.count()).endMicros >= recorded.at(recorded.count() - 1).endMicros);
  CHECK(recorded.at(recorded.count()).nanos > 0);
}

// Roots that take their time without running: the thread sleeps in the scavenge, as it
// would wait for a core or for a page another thread serves.
struct SleepingRoots : RootProvider {
  std::chrono::milliseconds sleep{0};
  void visitRoots(RootVisitor&) override { std::this_thread::sleep_for(sleep); }
};

TEST_CASE("a scavenge's wall time holds its waits; the thread's CPU time and its waits say which part ran") {
  auto config = space::test::smallConfig();
  config.gcStress = false;  // one scavenge, counted alone
  TestHeap h(config);
  SleepingRoots roots;
  h.space.addRootProvider(&roots);
  Handle live(h.space, h.point(1, 2));
  h.space.scavenge();  // a first, quick one
  GcStats quick = h.space.stats();
  CHECK(quick.scavengeCpuNanos > 0);
  CHECK(quick.scavengeCpuNanos <= quick.scavengeNanos + 1000000);  // the two clocks read apart
  CHECK(quick.longestScavenge.cpuNanos <= quick.maxScavengeNanos + 1000000);

  roots.sleep = std::chrono::milliseconds(30);
  h.space.scavenge();
  GcStats slept = h.space.stats();
  CHECK(slept.maxScavengeNanos >= 30000000);         // the longest now, by its wall time
  CHECK(slept.longestScavenge.cpuNanos < 15000000);  // of which the thread ran a fraction
  CHECK(slept.longestScavenge.waits >= 1);           // it blocked
  CHECK(slept.scavengeCpuNanos - quick.scavengeCpuNanos < 15000000);

  roots.sleep = std::chrono::milliseconds(0);
  h.space.scavenge();  // shorter: the longest stays the one that slept
  CHECK(h.space.stats().longestScavenge.waits == slept.longestScavenge.waits);
  CHECK(h.space.stats().maxScavengeNanos == slept.maxScavengeNanos);
  h.space.removeRootProvider(&roots);
  CHECK(TestHeap::x(live.get()) == 1);
}
