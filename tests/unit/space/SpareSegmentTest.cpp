// Old space's spare segment (OldSpace::keepSpareSegment): the next segment, written ahead
// on the PageReleaseThread, taken once ready; held under a checkpoint, and exact across
// its rollback. With it, the memory an update's checkpoint needs next is kept written
// too: the pool of chunks for saved pages, and the bump area after a full collection.
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "space/SpaceCheckpoint.h"
#include "tests/unit/space/TestHeap.h"

using namespace space;
using namespace space::test;

namespace {

SpaceConfig spareConfig() {
  SpaceConfig c = smallConfig("spare");
  c.warmSpareSegment = true;
  return c;
}

// Waits (boundedly) for the spare's job on the release thread.
bool waitForSpare(OldSpace& old) {
  for (int i = 0; i < 5000 && !old.spareSegmentReady(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return old.spareSegmentReady();
}

// Allocates old arrays, kept alive by `keep`, until old space opens a segment.
void growOldSpace(TestHeap& h, std::vector<Handle>& keep) {
  size_t segments = h.space.oldSpace().segments().size();
  while (h.space.oldSpace().segments().size() == segments) keep.emplace_back(h.space, h.array(1000, Tenure::Old));
}

bool hasSegmentAt(const OldSpace& old, uintptr_t start) {
  for (const Segment& s : old.segments()) {
    if (s.start == start) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("without the option a space keeps no spare segment") {
  TestHeap h;
  CHECK(h.space.oldSpace().spareSegment().second == 0);
}

TEST_CASE("the next segment old space opens is the spare, once written; then a new spare is prepared") {
  TestHeap h(spareConfig());
  OldSpace& old = h.space.oldSpace();
  auto [spareStart, spareBytes] = old.spareSegment();
  REQUIRE(spareBytes == OldSpace::kDefaultSegmentBytes);
  CHECK_FALSE(old.contains(spareStart));  // not a segment: walks and images leave it out
  size_t committed = old.committedBytes();
  REQUIRE(waitForSpare(old));
  std::vector<Handle> keep;
  growOldSpace(h, keep);
  CHECK(hasSegmentAt(old, spareStart));
  CHECK(old.committedBytes() == committed + spareBytes);
  CHECK(old.spareSegment().second == spareBytes);
  CHECK(old.spareSegment().first != spareStart);
  h.verify();
}

TEST_CASE("a spare not written yet is left alone: the segment needed meanwhile is fresh memory") {
  TestHeap h(spareConfig());
  // The test holds the release thread while the space allocates; collecting at every
  // allocation, a collection would wait for that thread's jobs (the bump area's warming)
  // behind the test's own: nothing to learn there but a deadlock of the test's making.
  if (h.space.config().gcStress) return;
  OldSpace& old = h.space.oldSpace();
  // Keep the release thread busy so the spare's job waits behind this one (released
  // however the test ends).
  struct Blocker {
    std::atomic<bool> go{false};
    PageReleaseThread::Ticket ticket = 0;
    ~Blocker() {
      go = true;
      PageReleaseThread::instance().waitFor(ticket);
    }
  } blocker;
  blocker.ticket = PageReleaseThread::instance().post([&blocker] {
    while (!blocker.go.load()) std::this_thread::yield();
  });
  old.keepSpareSegment(false);
  old.keepSpareSegment(true);  // a new spare, its job queued behind the blocker
  auto [spareStart, spareBytes] = old.spareSegment();
  REQUIRE(spareBytes != 0);
  CHECK_FALSE(old.spareSegmentReady());
  std::vector<Handle> keep;
  growOldSpace(h, keep);
  CHECK_FALSE(hasSegmentAt(old, spareStart));
  CHECK(old.spareSegment().first == spareStart);  // still the spare, for a later segment
  blocker.go = true;
  REQUIRE(waitForSpare(old));
  growOldSpace(h, keep);
  CHECK(hasSegmentAt(old, spareStart));
  h.verify();
}

TEST_CASE("a space near its limit keeps no spare") {
  SpaceConfig c = spareConfig();
  c.maxOldBytes = OldSpace::kDefaultSegmentBytes + (OldSpace::kDefaultSegmentBytes / 2);
  TestHeap h(c);
  CHECK(h.space.oldSpace().spareSegment().second == 0);
}

TEST_CASE("room asked for makes the spare that long; the next segment takes it whole, the spare after it is usual") {
  TestHeap h(spareConfig());
  OldSpace& old = h.space.oldSpace();
  REQUIRE(waitForSpare(old));
  uintptr_t first = old.spareSegment().first;
  const size_t room = (size_t(20) << 20) + 100;  // more than two segments' worth
  old.prepareSpareRoom(room);
  auto [spareStart, spareBytes] = old.spareSegment();
  CHECK(spareBytes == Reservation::roundUpToPage(room));
  CHECK(spareStart == first);  // the last range taken: it grows in place
  for (int i = 0; i < 5000 && !old.spareRoomReady(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(old.spareRoomReady());
  REQUIRE(old.spareSegmentReady());
  old.prepareSpareRoom(size_t(1) << 20);  // less than it has: nothing changes
  CHECK(old.spareSegment() == std::pair<uintptr_t, size_t>{spareStart, spareBytes});
  old.prepareSpareRoom(size_t(1) << 30);  // more than the most it makes: that much
  CHECK(old.spareSegment() == std::pair<uintptr_t, size_t>{spareStart, OldSpace::kMaxSpareRoomBytes});
  spareBytes = OldSpace::kMaxSpareRoomBytes;
  for (int i = 0; i < 5000 && !old.spareRoomReady(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(old.spareRoomReady());
  size_t committed = old.committedBytes();
  std::vector<Handle> keep;
  growOldSpace(h, keep);
  REQUIRE(hasSegmentAt(old, spareStart));
  CHECK(old.segmentOf(spareStart)->bytes() == spareBytes);
  CHECK(old.committedBytes() == committed + spareBytes);
  CHECK(old.spareSegment().second == OldSpace::kDefaultSegmentBytes);
  h.verify();
}

TEST_CASE("room asked of a spare with a segment above it is a new spare") {
  TestHeap h(spareConfig());
  OldSpace& old = h.space.oldSpace();
  REQUIRE(waitForSpare(old));
  {
    std::vector<Handle> garbage;
    growOldSpace(h, garbage);
    growOldSpace(h, garbage);
  }
  REQUIRE(h.space.collectGarbage());  // frees a segment's range below the top
  REQUIRE(waitForSpare(old));
  std::vector<Handle> keep;
  growOldSpace(h, keep);  // takes the spare; the next one takes the freed range
  auto [spareStart, spareBytes] = old.spareSegment();
  REQUIRE(spareBytes == OldSpace::kDefaultSegmentBytes);
  REQUIRE(old.segments().back().start > spareStart);
  old.prepareSpareRoom(size_t(20) << 20);
  CHECK(old.spareSegment().second == size_t(20) << 20);
  CHECK(old.spareSegment().first != spareStart);
  for (int i = 0; i < 5000 && !old.spareRoomReady(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(old.spareRoomReady());
  growOldSpace(h, keep);
  CHECK(old.segmentOf(keep.back().get().address())->bytes() == size_t(20) << 20);
  h.verify();
}

TEST_CASE("room the limit has no place for, or asked for under a checkpoint, leaves the spare as it is") {
  SpaceConfig c = spareConfig();
  c.maxOldBytes = size_t(40) << 20;
  TestHeap h(c);
  OldSpace& old = h.space.oldSpace();
  REQUIRE(waitForSpare(old));
  std::pair<uintptr_t, size_t> spare = old.spareSegment();
  old.prepareSpareRoom(size_t(64) << 20);
  CHECK(old.spareSegment() == spare);
  CHECK(old.spareRoomReady());  // none is coming
  {
    SpaceCheckpoint cp(h.space);  // holds the spare
    old.prepareSpareRoom(size_t(16) << 20);
    CHECK(old.spareSegment() == spare);
    cp.commit();
  }
  CHECK(old.spareSegment() == spare);
}

TEST_CASE("under a checkpoint no spare is prepared; a rollback frees the range of the spare a segment took") {
  TestHeap h(spareConfig());
  Space& s = h.space;
  OldSpace& old = s.oldSpace();
  Handle root(s, h.array(10, Tenure::Old));
  s.storePointer(root.get(), 0, h.point(3, 4, Tenure::Old));
  std::string print = fingerprint(s, root.get());
  s.armCheckpoint();  // it may open a segment for its bump area, taking the spare
  size_t committed = old.committedBytes();
  auto [spareStart, spareBytes] = old.spareSegment();
  REQUIRE(waitForSpare(old));
  {
    SpaceCheckpoint cp(s);
    std::vector<Handle> keep;
    growOldSpace(h, keep);
    growOldSpace(h, keep);  // past the checkpoint's bump area, into the spare
    CHECK(hasSegmentAt(old, spareStart));
    CHECK(old.spareSegment().second == 0);  // held: none prepared under the checkpoint
    s.storePointer(root.get(), 1, keep.back().get());
    cp.rollback();
  }
  CHECK(old.committedBytes() == committed);
  CHECK(fingerprint(s, root.get()) == print);
  CHECK_FALSE(hasSegmentAt(old, spareStart));
  // The checkpoint's end prepared the next spare, in the freed range.
  CHECK(old.spareSegment() == std::pair<uintptr_t, size_t>{spareStart, spareBytes});
  REQUIRE(waitForSpare(old));
  std::vector<Handle> keep;
  growOldSpace(h, keep);
  CHECK(hasSegmentAt(old, spareStart));
  h.verify();
}

TEST_CASE("a rollback keeps the spare no segment took, and a commit keeps the segment made of it") {
  TestHeap h(spareConfig());
  Space& s = h.space;
  OldSpace& old = s.oldSpace();
  std::pair<uintptr_t, size_t> spare = old.spareSegment();
  REQUIRE(waitForSpare(old));
  {
    SpaceCheckpoint cp(s);
    h.array(10, Tenure::Old);
    cp.rollback();
  }
  CHECK(old.spareSegment() == spare);
  CHECK(old.spareSegmentReady());
  std::vector<Handle> keep;
  {
    SpaceCheckpoint cp(s);
    growOldSpace(h, keep);
    growOldSpace(h, keep);
    REQUIRE(hasSegmentAt(old, spare.first));
    cp.commit();
  }
  CHECK(hasSegmentAt(old, spare.first));
  CHECK(old.spareSegment().second == spare.second);  // the next one
  CHECK(old.spareSegment().first != spare.first);
  h.verify();
}

TEST_CASE("an image's state leaves the spare out: its range is free memory there") {
  TestHeap h(spareConfig());
  OldSpace& old = h.space.oldSpace();
  auto [spareStart, spareBytes] = old.spareSegment();
  OldSpace::State state = old.state();
  CHECK(state.spareStart == spareStart);
  OldSpace::State image = state.withoutSpare();
  CHECK(image.spareBytes == 0);
  CHECK(image.releasedRanges.size() == state.releasedRanges.size() + 1);
  CHECK(image.releasedRanges.back() == std::pair<uintptr_t, size_t>{spareStart, spareBytes});
}

TEST_CASE("a space that keeps a spare keeps the checkpoint's pool of chunks full, and idle releases leave it") {
  {
    TestHeap h(spareConfig());
    PageReleaseThread::instance().waitFor(PageReleaseThread::instance().post([] {}));
    CHECK(WriteTracker::spareChunksKept() == WriteTracker::kSpareChunks);
    WriteTracker::releaseSpareChunks(1);
    CHECK(WriteTracker::spareChunksKept() == WriteTracker::kSpareChunks);
  }
  WriteTracker::releaseSpareChunks(1);  // no such space any more
  CHECK(WriteTracker::spareChunksKept() == 1);
}

TEST_CASE("after a full collection the bump area is the free run that ends a segment, its pages written ahead") {
  TestHeap h(spareConfig());
  Space& s = h.space;
  OldSpace& old = s.oldSpace();
  {
    std::vector<Handle> garbage;
    growOldSpace(h, garbage);
    growOldSpace(h, garbage);
  }
  REQUIRE(s.collectGarbage());
  old.waitForBumpAreaWarming();
  OldSpace::State state = old.state();
  REQUIRE(state.bumpSegment != SIZE_MAX);
  CHECK(state.bumpEnd == old.segments()[state.bumpSegment].end);
  uintptr_t start = Reservation::roundUpToPage(state.bumpTop);
  size_t pages = std::min<size_t>((state.bumpEnd - start) / Reservation::kPageSize,
                                  OldSpace::kDefaultSegmentBytes / Reservation::kPageSize);
  REQUIRE(pages * Reservation::kPageSize >= OldSpace::kMinWarmBumpBytes);
  std::vector<unsigned char> resident(pages);
  REQUIRE(mincore(reinterpret_cast<void*>(start), pages * Reservation::kPageSize, resident.data()) == 0);
  size_t in = 0;
  for (unsigned char r : resident) in += r & 1;
  CHECK(in == pages);
  h.verify();
  std::vector<Handle> keep;
  growOldSpace(h, keep);  // allocation goes on in and past it
  h.verify();
}

TEST_CASE("without the option a full collection leaves the bump area closed and gives its pages back") {
  TestHeap h;
  {
    std::vector<Handle> garbage;
    growOldSpace(h, garbage);
  }
  REQUIRE(h.space.collectGarbage());
  CHECK(h.space.oldSpace().state().bumpSegment == SIZE_MAX);
}
