// Checkpoints: WriteTracker saves each written page once and restores them all, and
// gives the pages back on the one PageReleaseThread; a SpaceCheckpoint puts a whole space
// back — after stores, allocation, scavenges, identity swaps and handles — or keeps the
// changes on commit.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "space/PageReleaseThread.h"
#include "space/RunAhead.h"
#include "space/SpaceCheckpoint.h"
#include "space/WriteTracker.h"
#include "tests/unit/space/TestHeap.h"

using namespace space;
using space::test::fingerprint;
using space::test::TestHeap;

namespace {

// An anonymous mapping of `pages` pages filled with a pattern that depends on the page.
struct Pages {
  size_t count;
  uint8_t* base;
  explicit Pages(size_t n) : count(n) {
    void* p = mmap(nullptr, n * WriteTracker::kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    base = static_cast<uint8_t*>(p);
    for (size_t i = 0; i < n; i++)
      std::memset(base + i * WriteTracker::kPageSize, int(i % 251), WriteTracker::kPageSize);
  }
  ~Pages() { munmap(base, count * WriteTracker::kPageSize); }
  MemoryRange range() const {
    uintptr_t b = reinterpret_cast<uintptr_t>(base);
    return MemoryRange{b, b + count * WriteTracker::kPageSize};
  }
  uint8_t* page(size_t i) { return base + i * WriteTracker::kPageSize; }
  bool pristine() const {
    for (size_t i = 0; i < count; i++) {
      for (size_t j = 0; j < WriteTracker::kPageSize; j += 512) {
        if (base[i * WriteTracker::kPageSize + j] != uint8_t(i % 251)) return false;
      }
    }
    return true;
  }
};

}  // namespace

TEST_CASE("a write tracker saves each written page once and restores all of them") {
  Pages m(64);
  MemoryRange r = m.range();
  {
    WriteTracker t({&r, 1});
    CHECK(t.pagesTracked() == 64);
    m.page(3)[100] = 0xAA;
    m.page(3)[200] = 0xBB;  // the same page: no second copy
    m.page(40)[0] = 0xCC;
    CHECK(t.pagesSaved() == 2);
    CHECK(t.faultsTaken() == 2);
    CHECK(m.page(3)[100] == 0xAA);  // the writes went through
    t.restore();
  }
  CHECK(m.pristine());
  {
    WriteTracker t({&r, 1});
    m.page(5)[7] = 0x11;
    t.release();  // commit: the write stays
  }
  CHECK(m.page(5)[7] == 0x11);
  m.page(5)[7] = uint8_t(5 % 251);
  CHECK(m.pristine());
}

TEST_CASE("a run of writes costs a tracker three faults per block, and it stays exact") {
  size_t blocks = 4;
  Pages m(blocks * WriteTracker::kBlockPages);
  MemoryRange r = m.range();
  WriteTracker t({&r, 1});
  for (size_t i = 0; i < blocks * WriteTracker::kBlockPages; i++) m.page(i)[9] = 0x5A;  // one page after another
  CHECK(t.faultsTaken() == 3 * blocks);  // two pages of a block alone, then the rest of it at once
  CHECK(t.pagesSaved() == blocks * WriteTracker::kBlockPages);
  CHECK(m.page(blocks * WriteTracker::kBlockPages - 1)[9] == 0x5A);
  t.restore();
  CHECK(m.pristine());
}

TEST_CASE("scattered writes in one block save their own pages; a run among them saves the block") {
  Pages m(WriteTracker::kBlockPages);
  MemoryRange r = m.range();
  WriteTracker t({&r, 1});
  for (size_t i : {2, 9, 17, 25, 30}) m.page(i)[4] = 0x21;  // apart: a page each
  CHECK(t.faultsTaken() == 5);
  CHECK(t.pagesSaved() == 5);
  m.page(10)[4] = 0x22;  // next to a saved page, in a block that faulted before: a run
  CHECK(t.faultsTaken() == 6);
  CHECK(t.pagesSaved() == WriteTracker::kBlockPages);
  for (size_t i = 0; i < WriteTracker::kBlockPages; i++) m.page(i)[6] = 0x23;  // no fault left
  CHECK(t.faultsTaken() == 6);
  t.restore();
  CHECK(m.pristine());
}

TEST_CASE("a tracker copies into the memory the previous one copied into, and restores exactly") {
  Pages m(8);
  MemoryRange r = m.range();
  {
    WriteTracker first({&r, 1});
    m.page(1)[0] = 0x31;
    first.release();  // commit
  }
  m.page(1)[0] = uint8_t(1 % 251);
  size_t kept = WriteTracker::spareChunksKept();
  CHECK(kept >= 1);
  {
    WriteTracker second({&r, 1});
    m.page(6)[2] = 0x32;
    CHECK(WriteTracker::spareChunksKept() == kept - 1);  // the second took one
    m.page(3)[2] = 0x33;
    second.restore();
  }
  CHECK(m.pristine());
  CHECK(WriteTracker::spareChunksKept() == kept);
}

TEST_CASE("a large update's chunks of copies are kept for the next tracker, up to a bound, until released") {
  size_t pages = (WriteTracker::kSpareChunks + 2) * 255;  // more chunks than are kept
  Pages m(pages);
  MemoryRange r = m.range();
  {
    WriteTracker t({&r, 1});
    for (size_t i = 0; i < pages; i++) m.page(i)[3] = 0x41;
    t.restore();
  }
  CHECK(m.pristine());
  CHECK(WriteTracker::spareChunksKept() == WriteTracker::kSpareChunks);
  {
    WriteTracker t({&r, 1});
    for (size_t i = 0; i < pages; i += 2) m.page(i)[3] = 0x42;  // copies go into kept chunks first
    t.restore();
  }
  CHECK(m.pristine());
  WriteTracker::releaseSpareChunks(1);
  CHECK(WriteTracker::spareChunksKept() == 1);
}

TEST_CASE("pages saved ahead of their writes take no fault; runs close together are saved as one") {
  Pages m(4 * WriteTracker::kBlockPages + 200);
  MemoryRange r = m.range();
  WriteTracker t({&r, 1});
  size_t far = 5 + WriteTracker::kAheadGapPages + 1;  // too far from page 5 to share its run
  std::vector<uintptr_t> pages;
  for (size_t i : {size_t(5), size_t(3), far, size_t(5)}) pages.push_back(reinterpret_cast<uintptr_t>(m.page(i)));
  pages.push_back(reinterpret_cast<uintptr_t>(m.base) - WriteTracker::kPageSize);  // not tracked: ignored
  t.saveAhead(pages);
  CHECK(t.pagesSaved() == 4);  // pages 3 to 5 (4 in between), and the far one
  for (size_t i : {size_t(3), size_t(4), size_t(5), far}) m.page(i)[8] = 0x51;
  CHECK(t.faultsTaken() == 0);
  m.page(far + 1)[8] = 0x52;  // not saved ahead: a fault as usual
  CHECK(t.faultsTaken() == 1);
  t.restore();
  CHECK(m.pristine());
}

TEST_CASE("a tracker released in the background lets writes through before and after its thread is done") {
  Pages m(4 * WriteTracker::kBlockPages);
  MemoryRange r = m.range();
  WriteTracker t({&r, 1});
  m.page(1)[3] = 0x42;
  t.releaseInBackground();
  CHECK(t.releasing());
  for (size_t i = 0; i < 4 * WriteTracker::kBlockPages; i++) m.page(i)[5] = 0x17;  // racing the thread
  t.finishRelease();
  CHECK_FALSE(t.releasing());
  CHECK(m.page(1)[3] == 0x42);
  CHECK(m.page(4 * WriteTracker::kBlockPages - 1)[5] == 0x17);
  m.page(0)[0] = 1;  // writable without any tracker
}

TEST_CASE("trackers released one after another share one release thread, and each waits for its own job") {
  Pages m(2 * WriteTracker::kBlockPages);
  MemoryRange r = m.range();
  std::thread::id releaser;
  for (int round = 0; round < 3; round++) {
    WriteTracker t({&r, 1});
    m.page(size_t(round))[7] = uint8_t(0x60 + round);
    uint64_t doneBefore = PageReleaseThread::instance().jobsDone();
    t.releaseInBackground();
    if (round == 0) releaser = PageReleaseThread::instance().threadId();
    CHECK(PageReleaseThread::instance().threadId() == releaser);  // not a thread per release
    CHECK(releaser != std::this_thread::get_id());
    t.finishRelease();
    CHECK(PageReleaseThread::instance().jobsDone() > doneBefore);
    for (size_t i = 0; i < 2 * WriteTracker::kBlockPages; i++) m.page(i)[11] = uint8_t(round);  // writable
  }
  CHECK(m.page(2)[7] == 0x62);
  // Jobs of other owners queue behind each other; waiting for a later one waits for all.
  std::atomic<int> ran{0};
  PageReleaseThread::instance().post([&] { ran++; });
  PageReleaseThread::Ticket last = PageReleaseThread::instance().post([&] { ran++; });
  PageReleaseThread::instance().waitFor(last);
  CHECK(ran.load() == 2);
}

TEST_CASE("an armed tracker protects ahead; begin() makes the pages written since part of the checkpoint") {
  size_t n = 4 * WriteTracker::kBlockPages;
  Pages m(n);
  MemoryRange all = m.range();
  MemoryRange firstHalf{all.start, all.start + n / 2 * WriteTracker::kPageSize};
  WriteTracker t({&firstHalf, 1}, WriteTracker::Armed{});
  CHECK(t.armed());
  // Written before the pause (in the armed half and beyond it): the checkpoint's state.
  m.page(3)[10] = 0x31;
  m.page(n - 2)[10] = 0x32;
  std::vector<uint8_t> atPause(m.base, m.base + n * WriteTracker::kPageSize);
  t.begin({&all, 1});
  CHECK_FALSE(t.armed());
  CHECK(t.pagesTracked() == n);
  // Written after: clean armed pages, a dirty one, and pages outside the armed range.
  for (size_t i = 0; i < n; i += 5) m.page(i)[20] = 0x77;
  m.page(3)[10] = 0x41;
  CHECK(t.pagesSaved() > 0);
  t.restore();
  CHECK(std::memcmp(m.base, atPause.data(), atPause.size()) == 0);
}

namespace {

// A checkpoint before the one under test leaves a chunk of copies mapped (255 pages).
void leaveSpareChunk(Pages& m) {
  MemoryRange all = m.range();
  WriteTracker earlier({&all, 1});
  m.page(0)[1] = 0x01;
  earlier.restore();
  REQUIRE(WriteTracker::spareChunkKept());
}

// After begin() copied pages [first, end) of `m`: they stay writable (no fault), a write
// to `clean` (protected since the arming) faults, and restore() gives back `atPause`.
void checkCopiedThenRestore(WriteTracker& t, Pages& m, size_t first, size_t end, size_t clean,
                            const std::vector<uint8_t>& atPause) {
  for (size_t i = first; i < end; i++) m.page(i)[20] = 0x77;
  CHECK(t.faultsTaken() == 0);
  m.page(clean)[20] = 0x78;
  CHECK(t.faultsTaken() == 1);
  t.restore();
  CHECK(std::memcmp(m.base, atPause.data(), atPause.size()) == 0);
}

// Whether the kernel may write the page at `p` (a read into it from a pipe): false while it
// is protected, and no signal is raised to find out.
bool kernelMayWrite(uint8_t* p) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  uint8_t byte = p[0];
  REQUIRE(::write(fds[1], &byte, 1) == 1);
  bool wrote = ::read(fds[0], p, 1) == 1;
  ::close(fds[0]);
  ::close(fds[1]);
  return wrote;
}

// Free chunks all over old space: every other array of a long run dies, and a collection
// lists what they held. Answers the root that keeps the others (400 arrays of 200 slots).
Oop withFreeChunksAllOver(TestHeap& h) {
  Handle root(h.space, h.array(400, Tenure::Old));
  for (size_t i = 0; i < 800; i++) {
    Oop a = h.array(200, Tenure::Old);
    if (i % 2 == 0) h.space.storePointer(root.get(), i / 2, a);
  }
  REQUIRE(h.space.collectGarbage());
  return root.get();
}

}  // namespace

TEST_CASE("pages marked written while armed are writable at once; the pause copies those its ranges still cover") {
  size_t n = 4 * WriteTracker::kBlockPages;
  Pages m(n);
  MemoryRange all = m.range();
  leaveSpareChunk(m);
  WriteTracker t({&all, 1}, WriteTracker::Armed{});
  // The first half is marked (a nursery a scavenge writes and empties); the pause's ranges
  // cover only its first quarter (eden up to its top again).
  t.markWritten({all.start, all.start + n / 2 * WriteTracker::kPageSize});
  CHECK(kernelMayWrite(m.page(0)));
  CHECK(kernelMayWrite(m.page(n / 2 - 1)));
  CHECK_FALSE(kernelMayWrite(m.page(n / 2)));
  for (size_t i = 0; i < n / 2; i++) m.page(i)[10] = 0x31;
  std::vector<uint8_t> atPause(m.base, m.base + n * WriteTracker::kPageSize);
  MemoryRange quarter{all.start, all.start + n / 4 * WriteTracker::kPageSize};
  t.begin({&quarter, 1});
  CHECK(t.pagesSaved() == n / 4);  // not the marked pages past the pause's ranges
  // Past the pause's ranges nothing is tracked: every page writable, marked or not.
  CHECK(kernelMayWrite(m.page(n / 4)));
  CHECK(kernelMayWrite(m.page(n - 1)));
  for (size_t i = n / 4; i < n; i++) m.page(i)[30] = 0x55;
  CHECK(t.faultsTaken() == 0);
  for (size_t i = 0; i < n / 4; i++) m.page(i)[20] = 0x77;
  CHECK(t.faultsTaken() == 0);  // copied already
  t.restore();
  CHECK(std::memcmp(m.base, atPause.data(), n / 4 * WriteTracker::kPageSize) == 0);
}

TEST_CASE("begin() over ranges that moved since the arming protects exactly the pause's pages, copied or not") {
  // Armed over four ranges; the pause's ranges shrink the first, widen the second on both
  // sides, drop the third, keep the fourth and add a fifth (a nursery's eden, new
  // segments, a segment given back). Pages in page numbers of one mapping.
  struct Span {
    size_t first, end;
  };
  const std::vector<Span> armedSpans{{0, 64}, {96, 160}, {200, 260}, {300, 400}};
  const std::vector<Span> pauseSpans{{0, 32}, {80, 170}, {300, 400}, {450, 470}};
  const std::vector<size_t> writtenWhileArmed{5, 40, 100, 210, 350, 399};
  size_t n = 512;
  auto inSpans = [](const std::vector<Span>& spans, size_t page) {
    return std::any_of(spans.begin(), spans.end(), [&](const Span& s) { return page >= s.first && page < s.end; });
  };
  for (bool chunkKept : {false, true}) {
    CAPTURE(chunkKept);
    Pages m(n);
    if (chunkKept) {
      leaveSpareChunk(m);
    } else {
      WriteTracker::releaseSpareChunks(0);
    }
    auto ranges = [&](const std::vector<Span>& spans) {
      std::vector<MemoryRange> out;
      for (const Span& s : spans)
        out.push_back(
            {m.range().start + s.first * WriteTracker::kPageSize, m.range().start + s.end * WriteTracker::kPageSize});
      return out;
    };
    std::vector<MemoryRange> armed = ranges(armedSpans), pause = ranges(pauseSpans);
    WriteTracker t(armed, WriteTracker::Armed{});
    for (size_t page : writtenWhileArmed) m.page(page)[10] = 0x31;
    std::vector<uint8_t> atPause(m.base, m.base + n * WriteTracker::kPageSize);
    t.begin(pause);
    // Copied in the pause (with a chunk kept): the written pages the pause still covers
    // and those it gained, 50 in all; without one, none.
    std::vector<size_t> copied;
    for (size_t page = 0; page < n && chunkKept; page++) {
      bool written = std::find(writtenWhileArmed.begin(), writtenWhileArmed.end(), page) != writtenWhileArmed.end();
      if (inSpans(pauseSpans, page) && (written || !inSpans(armedSpans, page))) copied.push_back(page);
    }
    CHECK(t.pagesSaved() == copied.size());
    CHECK(copied.size() == (chunkKept ? 50 : 0));
    for (size_t page = 0; page < n; page++) {
      CAPTURE(page);
      bool isCopied = std::find(copied.begin(), copied.end(), page) != copied.end();
      CHECK(kernelMayWrite(m.page(page)) == (!inSpans(pauseSpans, page) || isCopied));
    }
    // Every page of the pause's ranges comes back as it was at the pause; the others keep
    // what is written after it.
    for (size_t page = 0; page < n; page++) m.page(page)[20] = 0x77;
    t.restore();
    for (size_t page = 0; page < n; page++) {
      CAPTURE(page);
      bool back =
          std::memcmp(m.page(page), atPause.data() + page * WriteTracker::kPageSize, WriteTracker::kPageSize) == 0;
      CHECK(back == inSpans(pauseSpans, page));
    }
  }
}

TEST_CASE("copies prepared while armed hold the pause's saved pages; those not used are let go") {
  size_t n = 1200;
  Pages m(n);
  MemoryRange all = m.range();
  auto waitUntilPrepared = [](const WriteTracker& t) {
    for (int i = 0; i < 5000 && !t.preparingDone(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return t.preparingDone();
  };
  WriteTracker::releaseSpareChunks(0);  // none kept: the chunks saved into are the prepared ones
  {
    WriteTracker t({&all, 1}, WriteTracker::Armed{});
    t.prepareCopies(600);  // three chunks of 255
    REQUIRE(waitUntilPrepared(t));
    CHECK(t.chunksPrepared() == 3);
    t.begin({&all, 1});
    for (size_t i = 0; i < n; i += 4) m.page(i)[7] = 0x5A;  // 300 pages apart
    CHECK(t.pagesSaved() == n / 4);
    CHECK(t.pagesSavedIntoPrepared() == n / 4);
    CHECK(t.chunksPrepared() == 1);  // two taken
    t.restore();
    CHECK(m.pristine());
    CHECK(t.chunksPrepared() == 0);
  }
  {
    // Never more than the pages tracked; a disarmed tracker lets its prepared chunks go.
    WriteTracker::releaseSpareChunks(0);
    WriteTracker t({&all, 1}, WriteTracker::Armed{});
    t.prepareCopies(size_t(1) << 40);
    REQUIRE(waitUntilPrepared(t));
    CHECK(t.chunksPrepared() == (n + 254) / 255);
  }
  {
    // The pool of spare chunks is not counted in: it stays for what the program writes.
    leaveSpareChunk(m);
    WriteTracker t({&all, 1}, WriteTracker::Armed{});
    t.prepareCopies(200);
    REQUIRE(waitUntilPrepared(t));
    CHECK(t.chunksPrepared() == 1);
    CHECK(WriteTracker::spareChunksKept() >= 1);
  }
  {
    // The pause stops the preparing where it is and waits for no more.
    WriteTracker::releaseSpareChunks(0);
    Pages large(size_t(64) << 10);  // 256 MiB tracked
    MemoryRange whole = large.range();
    WriteTracker t({&whole, 1}, WriteTracker::Armed{});
    t.prepareCopies(size_t(64) << 10);
    t.begin({&whole, 1});
    CHECK(t.preparingDone());
    CHECK(t.chunksPrepared() < (size_t(64) << 10) / 255);
    large.page(5)[3] = 0x11;
    t.restore();
    CHECK(large.pristine());
  }
  CHECK(m.pristine());
}

TEST_CASE("the pages the arming left out take the prepared copies before the program's own") {
  size_t n = 600;
  Pages m(n);
  MemoryRange all = m.range();
  auto at = [&](size_t page) { return all.start + page * WriteTracker::kPageSize; };
  MemoryRange armed{all.start, at(300)};  // protected ahead
  MemoryRange leftOut{at(300), at(555)};  // a census's instances: one chunk's worth
  WriteTracker::releaseSpareChunks(0);    // the prepared chunk is all the room there is
  WriteTracker t({&armed, 1}, WriteTracker::Armed{false, {}, {leftOut}});
  t.prepareCopies(255);
  for (int i = 0; i < 5000 && !t.preparingDone(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(t.chunksPrepared() == 1);
  // The program writes below them before the pause (its eden, lowest in a space), and
  // fills pages above them that were never protected.
  for (size_t i = 0; i < 300; i += 3) m.page(i)[1] = 0x21;
  t.begin({&all, 1});
  CHECK(t.pagesSaved() == 255);
  CHECK(t.pagesSavedIntoPrepared() == 255);
  // The pause writes every instance: copied already, none faults.
  size_t faults = t.faultsTaken();
  for (size_t i = 300; i < 555; i++) m.page(i)[2] = 0x22;
  CHECK(t.faultsTaken() == faults);
  CHECK(t.pagesSaved() == 255);
  // The program's pages were protected instead: one the pause writes costs its fault.
  m.page(3)[4] = 0x23;
  m.page(590)[4] = 0x24;
  CHECK(t.faultsTaken() == faults + 2);
  CHECK(t.pagesSaved() == 257);
  t.restore();
  for (size_t i = 300; i < 555; i++) REQUIRE(m.page(i)[2] == uint8_t(i % 251));
  CHECK(m.page(590)[4] == uint8_t(590 % 251));
  CHECK(m.page(3)[4] == 3);
  CHECK(m.page(3)[1] == 0x21);  // written before the pause: kept
}

TEST_CASE("pagesToTake: a page alone, or as many ahead as a run has behind it, capped, within bounds") {
  std::vector<uint8_t> taken(40, 0);
  CHECK(pagesToTake(taken.data(), 0, 10, 40, 32) == 1);  // nothing behind
  taken[9] = taken[8] = taken[7] = 1;
  CHECK(pagesToTake(taken.data(), 0, 10, 40, 32) == 3);  // three behind
  CHECK(pagesToTake(taken.data(), 8, 10, 40, 32) == 2);  // nothing below `first` counts
  CHECK(pagesToTake(taken.data(), 0, 10, 40, 2) == 2);   // capped
  CHECK(pagesToTake(taken.data(), 0, 10, 12, 32) == 2);  // not past `end`
  CHECK(pagesToTake(taken.data(), 0, 11, 40, 32) == 1);  // page 10 not taken: no run
}

TEST_CASE("pages written between the arming and begin() are copied at once into kept chunks, not protected") {
  size_t n = 4 * WriteTracker::kBlockPages;
  Pages m(n);
  MemoryRange all = m.range();
  leaveSpareChunk(m);
  WriteTracker t({&all, 1}, WriteTracker::Armed{});
  size_t block = WriteTracker::kBlockPages;
  // Scattered writes, three of them in one block: each marks its own page only (pages
  // marked but not written would be copied in the pause for nothing).
  for (size_t i : {size_t(3), size_t(9), size_t(20)}) m.page(block + i)[10] = 0x31;
  // A run upwards: a write just above marked pages marks as many pages ahead as lie
  // marked behind it; five pages written mark eight (faults at 1, 2, 3 and 5).
  for (size_t i = 1; i <= 5; i++) m.page(2 * block + i)[10] = 0x32;
  std::vector<uint8_t> atPause(m.base, m.base + n * WriteTracker::kPageSize);
  t.begin({&all, 1});
  CHECK(t.pagesSaved() == 3 + 8);  // copied in the pause; not the blocks around them
  for (size_t i : {size_t(3), size_t(9), size_t(20)}) m.page(block + i)[20] = 0x77;
  checkCopiedThenRestore(t, m, 2 * block + 1, 2 * block + 9, block + 4, atPause);
}

TEST_CASE("pages the ranges gained since the arming are copied in the pause into kept chunks, not protected") {
  size_t n = 4 * WriteTracker::kBlockPages;
  Pages m(n);
  MemoryRange all = m.range();
  MemoryRange firstHalf{all.start, all.start + n / 2 * WriteTracker::kPageSize};
  leaveSpareChunk(m);  // its 255 pages hold the half
  // Armed over the first half; the second half fills before the pause (eden past its top).
  WriteTracker t({&firstHalf, 1}, WriteTracker::Armed{});
  for (size_t i = n / 2; i < n; i++) m.page(i)[10] = 0x31;
  std::vector<uint8_t> atPause(m.base, m.base + n * WriteTracker::kPageSize);
  t.begin({&all, 1});
  CHECK(t.pagesSaved() == n / 2);  // the second half, copied in the pause
  checkCopiedThenRestore(t, m, n / 2, n, 2, atPause);
}

TEST_CASE("pages written ahead while armed are copied as begin() starts: writes in the pause take no fault") {
  size_t n = 4 * WriteTracker::kBlockPages;
  Pages m(n);
  MemoryRange all = m.range();
  leaveSpareChunk(m);
  WriteTracker t({&all, 1}, WriteTracker::Armed{});
  // Scattered pages: a block's first page, two neighbours, one far off; repeats, any order;
  // one outside every range is ignored.
  size_t block = WriteTracker::kBlockPages;
  std::vector<uintptr_t> ahead;
  for (size_t i : {size_t(2 * block + 9), block, size_t(5), size_t(6), block, size_t(2 * block + 9)})
    ahead.push_back(m.range().start + i * WriteTracker::kPageSize);
  ahead.push_back(all.end + 16 * WriteTracker::kPageSize);
  t.writeAhead(ahead);
  CHECK(t.pagesWrittenAhead() == 4);
  // Writable now: written before the pause without a fault, so the checkpoint holds it.
  m.page(5)[10] = 0x35;
  std::vector<uint8_t> atPause(m.base, m.base + n * WriteTracker::kPageSize);
  t.begin({&all, 1});
  // Only the four pages are copied, not the blocks around them.
  CHECK(t.pagesSaved() == 4);
  CHECK(t.pagesWrittenAhead() == 0);
  for (size_t i : {size_t(5), size_t(6), block, size_t(2 * block + 9)}) m.page(i)[20] = 0x77;
  CHECK(t.faultsTaken() == 0);
  m.page(block + 1)[20] = 0x78;  // the page next to one written ahead is still protected
  CHECK(t.faultsTaken() == 1);
  t.restore();
  CHECK(std::memcmp(m.base, atPause.data(), atPause.size()) == 0);
}

TEST_CASE("a page written ahead that the program's writes continue as a run is copied once, with the run") {
  size_t n = 2 * WriteTracker::kBlockPages;
  Pages m(n);
  MemoryRange all = m.range();
  leaveSpareChunk(m);
  WriteTracker t({&all, 1}, WriteTracker::Armed{});
  std::vector<uintptr_t> ahead = {all.start + 3 * WriteTracker::kPageSize};
  t.writeAhead(ahead);
  // Page 3 written (ahead), then 4 and 5: the fault at 4 marks it, the one at 5 marks 5 and 6.
  for (size_t i : {size_t(3), size_t(4), size_t(5)}) m.page(i)[10] = 0x31;
  std::vector<uint8_t> atPause(m.base, m.base + n * WriteTracker::kPageSize);
  t.begin({&all, 1});
  CHECK(t.pagesSaved() == 4);
  checkCopiedThenRestore(t, m, 3, 7, 7, atPause);
}

TEST_CASE("armed writes that continue a run take at most a block ahead, and never past their range") {
  const size_t block = WriteTracker::kBlockPages;
  const size_t n = 3 * block + 5;
  Pages m(n);
  MemoryRange all = m.range();
  leaveSpareChunk(m);
  // Writes `pages` in order while armed; answers the pages begin() copied, then puts the
  // memory back as it was at the pause.
  auto copiedAfterWriting = [&](const std::vector<size_t>& pages) {
    WriteTracker t({&all, 1}, WriteTracker::Armed{});
    for (size_t i : pages) m.page(i)[10] = uint8_t(i);
    std::vector<uint8_t> atPause(m.base, m.base + n * WriteTracker::kPageSize);
    t.begin({&all, 1});
    size_t copied = t.pagesSaved();
    for (size_t i = 0; i < n; i++) m.page(i)[20] = 0x77;
    t.restore();
    CHECK(std::memcmp(m.base, atPause.data(), atPause.size()) == 0);
    return copied;
  };
  std::vector<size_t> run;
  for (size_t i = 0; i <= 2 * block; i++) run.push_back(i);
  // The marks ahead double (1, 1, 2, 4, ..., a block): the write at 2 * block, with two
  // blocks marked behind it, marks one block ahead, not two.
  CHECK(copiedAfterWriting(run) == 3 * block);
  // One write more, at 3 * block: its block ahead stops at the range's end.
  run.push_back(3 * block);
  CHECK(copiedAfterWriting(run) == n);
}

TEST_CASE("armed in the background: protected by the release thread, then as if armed at once") {
  size_t n = 4 * WriteTracker::kBlockPages;
  Pages m(n);
  MemoryRange all = m.range();
  leaveSpareChunk(m);
  {
    // Dropped before its job is done: the job is waited for, every page writable after.
    WriteTracker dropped({&all, 1}, WriteTracker::Armed{true, {}});
  }
  m.page(n - 1)[3] = 0x03;
  Pages fresh(8);  // populated by the job
  WriteTracker t({&all, 1}, WriteTracker::Armed{true, fresh.range()});
  std::vector<uintptr_t> ahead = {all.start + 5 * WriteTracker::kPageSize};
  t.writeAhead(ahead);  // its unprotection is a job after the arming's
  REQUIRE(t.waitUntilArmed());
  m.page(WriteTracker::kBlockPages + 3)[10] = 0x31;  // protected by now: marks its page
  fresh.page(7)[1] = 0x01;
  std::vector<uint8_t> atPause(m.base, m.base + n * WriteTracker::kPageSize);
  t.begin({&all, 1});
  CHECK(t.pagesSaved() == 2);
  m.page(5)[20] = 0x77;
  checkCopiedThenRestore(t, m, WriteTracker::kBlockPages + 3, WriteTracker::kBlockPages + 4, 2, atPause);
}

TEST_CASE("writing ahead does nothing unless armed") {
  Pages m(8);
  MemoryRange all = m.range();
  WriteTracker t({&all, 1});
  std::vector<uintptr_t> ahead = {all.start};
  t.writeAhead(ahead);
  CHECK(t.pagesWrittenAhead() == 0);
  m.page(0)[1] = 0x01;
  CHECK(t.faultsTaken() == 1);
  t.restore();
}

TEST_CASE("arming protects young objects too: a rollback keeps what was written before the pause, not after") {
  TestHeap h;
  Space& s = h.space;
  Handle young(s, h.array(200));
  for (size_t i = 0; i < 200; i++) s.storePointer(young.get(), i, h.point(int64_t(i), 1));
  if (!s.config().gcStress) REQUIRE(s.isYoung(young.get()));  // collecting at every allocation promotes it
  s.armCheckpoint();
  // Before the pause: a store into a young object armed with eden, and new young objects.
  s.storePointer(young.get(), 7, h.point(7, 2));
  Handle later(s, h.array(50));
  s.storePointer(later.get(), 0, young.get());
  std::string print = fingerprint(s, young.get()) + fingerprint(s, later.get());
  {
    SpaceCheckpoint cp(s);
    for (size_t i = 0; i < 200; i += 2) s.storePointer(young.get(), i, h.point(int64_t(i), 3));
    s.storePointer(later.get(), 1, h.point(1, 3));
    cp.rollback();
  }
  CHECK(fingerprint(s, young.get()) + fingerprint(s, later.get()) == print);
  h.verify();
}

TEST_CASE("a space armed ahead of its checkpoint rolls back to the checkpoint, not to the arming") {
  TestHeap h;
  Space& s = h.space;
  Handle root(s, h.array(300, Tenure::Old));
  for (size_t i = 0; i < 300; i++) s.storePointer(root.get(), i, h.point(int64_t(i), 1, Tenure::Old));
  s.armCheckpoint();
  CHECK(s.checkpointArmed());
  // The program runs on before the pause: stores, allocation, promotion.
  for (size_t i = 0; i < 300; i += 3) s.storePointer(root.get(), i, h.point(int64_t(i), 2));
  for (int k = 0; k < 5000; k++) h.array(20);
  s.scavenge();
  std::string print = fingerprint(s, root.get());
  {
    SpaceCheckpoint cp(s);
    CHECK_FALSE(s.checkpointArmed());  // the checkpoint took it
    for (size_t i = 0; i < 300; i++) s.storePointer(root.get(), i, h.point(int64_t(i), 3, Tenure::Old));
    for (int k = 0; k < 5000; k++) h.array(20);
    s.scavenge();
    cp.rollback();
  }
  CHECK(fingerprint(s, root.get()) == print);
  h.verify();
  // A full collection disarms: its segments may go back to the system.
  s.armCheckpoint();
  CHECK(s.collectGarbage());
  CHECK_FALSE(s.checkpointArmed());
  CHECK(fingerprint(s, root.get()) == print);
  h.verify();
}

TEST_CASE("old objects made under an armed checkpoint come from untracked memory and save no page") {
  TestHeap h;
  Space& s = h.space;
  Handle root(s, withFreeChunksAllOver(h));
  std::string print = fingerprint(s, root.get());
  s.armCheckpoint();
  {
    SpaceCheckpoint cp(s);
    // What an update makes: methods, literals, the stacks of its evaluations. Each would
    // fit a free chunk, and splitting one writes its page.
    std::vector<Handle> made;
    for (int k = 0; k < 40; k++) made.emplace_back(s, h.array(100, Tenure::Old));
    for (const Handle& a : made) s.storePointer(a.get(), 99, root.get());
    // Not even the page the bump area started in: arming moved its start to a new page.
    CHECK(cp.pagesSaved() == 0);
    cp.rollback();
  }
  CHECK(fingerprint(s, root.get()) == print);
  h.verify();
}

TEST_CASE("objects promoted while a checkpoint is armed land outside the protected pages; the checkpoint keeps them") {
  SpaceConfig config = space::test::smallConfig();
  config.gcStress = false;  // a full collection would disarm
  TestHeap h(config);
  Space& s = h.space;
  Handle root(s, withFreeChunksAllOver(h));
  s.armCheckpoint();
  REQUIRE(s.checkpointArmed());
  std::vector<MemoryRange> armed = s.objectRanges();  // what the arming protects
  // The program runs on and a scavenge promotes: each object would fit a free chunk.
  Handle young(s, h.array(300));
  for (size_t i = 0; i < 300; i++) s.storePointer(young.get(), i, h.point(int64_t(i), 1));
  for (int k = 0; k < 10 && s.isYoung(young.get()); k++) s.scavenge();
  REQUIRE_FALSE(s.isYoung(young.get()));
  auto inArmedPages = [&](Oop o) {
    auto a = reinterpret_cast<uintptr_t>(o.object());
    return std::any_of(armed.begin(), armed.end(), [&](const MemoryRange& r) { return a >= r.start && a < r.end; });
  };
  CHECK_FALSE(inArmedPages(young.get()));
  for (size_t i = 0; i < 300; i++) CHECK_FALSE(inArmedPages(young.get().object()->slot(i)));
  s.storePointer(root.get(), 0, young.get());
  std::string print = fingerprint(s, root.get());
  {
    SpaceCheckpoint cp(s);
    CHECK(s.oldSpace().bumpFirst());  // the checkpoint's own order
    for (size_t i = 0; i < 300; i += 2) s.storePointer(young.get(), i, h.point(int64_t(i), 2, Tenure::Old));
    cp.rollback();
  }
  CHECK_FALSE(s.oldSpace().bumpFirst());  // as before the arming
  CHECK_FALSE(s.oldSpace().growBeforeReuse());
  CHECK(fingerprint(s, root.get()) == print);
  h.verify();
  s.armCheckpoint();
  CHECK(s.oldSpace().bumpFirst());
  s.disarmCheckpoint();
  CHECK_FALSE(s.oldSpace().bumpFirst());
  CHECK_FALSE(s.oldSpace().growBeforeReuse());
}

TEST_CASE("old objects made under a checkpoint past its bump area come from a new segment, which rollback drops") {
  TestHeap h;
  Space& s = h.space;
  Handle root(s, withFreeChunksAllOver(h));
  std::string print = fingerprint(s, root.get());
  size_t committed = s.oldSpace().committedBytes();
  s.armCheckpoint();
  {
    SpaceCheckpoint cp(s);
    // Objects that would each fit a free chunk, until the bump area (the free tail of the
    // segment) is used up and some more.
    std::vector<Handle> made;
    size_t afterGrowth = 0;
    while (afterGrowth < 200) {
      made.emplace_back(s, h.array(100, Tenure::Old));
      if (s.oldSpace().committedBytes() > committed) afterGrowth++;
    }
    for (const Handle& a : made) s.storePointer(a.get(), 99, root.get());
    CHECK(cp.pagesSaved() == 0);
    cp.rollback();
  }
  CHECK(s.oldSpace().committedBytes() == committed);
  CHECK(fingerprint(s, root.get()) == print);
  h.verify();
}

TEST_CASE("a become of many objects under a checkpoint saves their pages ahead, and rolls back exactly") {
  TestHeap h;
  Space& s = h.space;
  size_t n = 20000;
  Handle olds(s, h.array(n, Tenure::Old)), news(s, h.array(n, Tenure::Old)), root(s, h.array(2, Tenure::Old));
  for (size_t i = 0; i < n; i++) {
    s.storePointer(olds.get(), i, h.point(int64_t(i), 1, Tenure::Old));
    s.storePointer(news.get(), i, h.point(int64_t(i), 2, Tenure::Old));
    s.identityHash(olds.get().object()->slot(i));
  }
  s.storePointer(root.get(), 0, olds.get());
  s.storePointer(root.get(), 1, news.get());
  std::string print = fingerprint(s, root.get());
  std::vector<Oop> from(olds.get().object()->slots(), olds.get().object()->slots() + n);
  std::vector<Oop> to(news.get().object()->slots(), news.get().object()->slots() + n);
  {
    SpaceCheckpoint cp(s);
    s.becomeForward(from, to, CopyHash::Yes);
    // Some 200 pages of objects written, in a handful of runs: no fault per block.
    CHECK(cp.pagesSaved() >= n * 24 / WriteTracker::kPageSize);
    CHECK(cp.faultsTaken() < 8);
    cp.rollback();
  }
  CHECK(fingerprint(s, root.get()) == print);
  h.verify();
}

TEST_CASE("arming after full collections makes room in a segment's free tail, not in new segments") {
  TestHeap h;
  Space& s = h.space;
  Handle root(s, h.array(100, Tenure::Old));
  s.armCheckpoint();
  s.disarmCheckpoint();
  size_t committed = s.oldSpace().committedBytes();
  for (int round = 0; round < 6; round++) {
    for (size_t i = 0; i < 100; i++) s.storePointer(root.get(), i, h.array(50, Tenure::Old));
    REQUIRE(s.collectGarbage());  // closes the bump area
    s.armCheckpoint();
    { SpaceCheckpoint cp(s); }
    CHECK(s.oldSpace().committedBytes() == committed);
  }
  h.verify();
}

TEST_CASE("past the limit on runs of saved pages a tracker copies everything at once and stays exact") {
  // Every other page written: each saved page a run of its own, two mappings each.
  size_t n = 2 * (WriteTracker::kMaxSavedRuns + 200);
  Pages m(n);
  MemoryRange r = m.range();
  WriteTracker t({&r, 1});
  for (size_t i = 0; i < n; i += 2) {
    m.page(i)[1] = 0xEE;
    if (!t.copiedEverything()) CHECK(t.savedRuns() == i / 2 + 1);
  }
  CHECK(t.copiedEverything());
  CHECK(t.pagesSaved() == n);
  t.restore();
  CHECK(m.pristine());
}

TEST_CASE("a tracker counts runs of saved pages, not pages: a long run of writes copies only what it wrote") {
  // More pages than the limit on runs, written upwards: one run, saved a block at a time.
  constexpr size_t kWritten = WriteTracker::kMaxSavedRuns + 4 * WriteTracker::kBlockPages * 32;
  Pages m(2 * kWritten);
  MemoryRange r = m.range();
  WriteTracker t({&r, 1});
  for (size_t i = 0; i < kWritten; i++) m.page(i)[1] = 0xEE;
  CHECK(!t.copiedEverything());
  CHECK(t.pagesSaved() == kWritten);
  CHECK(t.savedRuns() == 1);
  CHECK(t.faultsTaken() <= 3 * kWritten / WriteTracker::kBlockPages);
  // Runs that meet across a block's edge become one.
  const size_t edge = kWritten + 10 * WriteTracker::kBlockPages;  // a block's first page
  m.page(edge - 1)[1] = 0xEE;
  CHECK(t.savedRuns() == 2);
  m.page(edge + 1)[1] = 0xEE;
  CHECK(t.savedRuns() == 3);
  m.page(edge)[1] = 0xEE;  // the second fault of its block: the page alone, joining both
  CHECK(t.savedRuns() == 2);
  CHECK(t.pagesSaved() == kWritten + 3);
  t.restore();
  CHECK(m.pristine());
}

TEST_CASE("a space rolls back over stores, allocation, scavenges, swaps and handles") {
  TestHeap h;
  Space& s = h.space;
  // Some old and young structure reachable from a handle.
  Handle root(s, h.array(200, Tenure::Old));
  for (size_t i = 0; i < 200; i++) {
    Oop p = h.point(int64_t(i), int64_t(-i), i % 2 ? Tenure::Old : Tenure::Young);
    s.storePointer(root.get(), i, p);
  }
  Handle before(s, root.get().object()->slot(7));
  s.scavenge();
  std::string print = fingerprint(s, root.get());
  size_t committed = s.oldSpace().committedBytes();
  {
    SpaceCheckpoint cp(s);
    // Stores into old and young objects, fresh objects, many scavenges (promoting), an
    // identity swap, a new handle and a changed one.
    for (size_t i = 0; i < 200; i++) s.storePointer(root.get(), i, h.point(int64_t(i) * 10, 0));
    Handle made(s, h.array(3));
    for (int k = 0; k < 20000; k++) {
      Oop junk = h.array(30);
      s.storePointer(made.get(), 0, junk);
    }
    Oop big = h.array(20000, Tenure::Old);  // old space grows, maybe a new segment
    s.storePointer(root.get(), 0, big);
    Oop a[1] = {root.get().object()->slot(1)}, b[1] = {root.get().object()->slot(2)};
    s.swapIdentities(a, b);
    before.set(h.point(99, 99));
    CHECK(!s.collectGarbage());  // no full collection while a checkpoint is active
    CHECK(cp.pagesSaved() > 0);
    cp.rollback();
    CHECK(made.get() == s.nil());  // made after the checkpoint: its object is gone
  }
  CHECK(fingerprint(s, root.get()) == print);
  CHECK(before.get() == root.get().object()->slot(7));
  CHECK(s.oldSpace().committedBytes() == committed);
  h.verify();
  // The space works on as before, collections included.
  for (int k = 0; k < 2000; k++) h.array(30);
  CHECK(s.collectGarbage());
  CHECK(fingerprint(s, root.get()) == print);
  h.verify();
}

TEST_CASE("a committed checkpoint keeps every change") {
  TestHeap h;
  Space& s = h.space;
  Handle root(s, h.array(10, Tenure::Old));
  {
    SpaceCheckpoint cp(s);
    s.storePointer(root.get(), 3, h.point(3, 4));
    cp.commit();
  }
  CHECK(TestHeap::x(root.get().object()->slot(3)) == 3);
  CHECK(s.checkpoint() == nullptr);
  CHECK(s.collectGarbage());
  h.verify();
}

TEST_CASE("heap exhaustion under a checkpoint fails the allocation instead of collecting") {
  SpaceConfig c = space::test::smallConfig();
  c.maxOldBytes = size_t(16) << 20;
  TestHeap h(c);
  Space& s = h.space;
  Handle keep(s, h.array(10, Tenure::Old));
  std::string print = fingerprint(s, keep.get());
  SpaceCheckpoint cp(s);
  bool exhausted = false;
  try {
    Handle list(s, h.array(1000, Tenure::Old));
    for (size_t i = 0;; i++) {
      Oop chunk = h.array(4000, Tenure::Old);
      s.storePointer(list.get(), i % 1000, chunk);
      if (i % 1000 == 999) {
        Oop next = h.array(1000, Tenure::Old);
        s.storePointer(next, 0, list.get());
        list.set(next);
      }
    }
  } catch (const HeapExhausted& e) {
    exhausted = true;
    CHECK(std::string(e.what()).find("checkpoint") != std::string::npos);
  }
  CHECK(exhausted);
  cp.rollback();
  CHECK(fingerprint(s, keep.get()) == print);
  h.verify();
}

TEST_CASE("a migration's census counts its instances' pages, and its checkpoint saves them into copies written ahead") {
  TestHeap h;
  Space& s = h.space;
  constexpr size_t kPoints = 20000;
  Handle points(s, h.array(kPoints, Tenure::Old));
  for (size_t i = 0; i < kPoints; i++) {
    s.storePointer(points.get(), i, h.point(int64_t(i), 1, Tenure::Old));
    h.array(3, Tenure::Old);  // garbage between them
  }
  REQUIRE(s.collectGarbage());
  s.openCensus({h.pointClass});
  while (!s.censusStep(std::chrono::microseconds(100))) {
  }
  // The pages the points lie on, counted one by one.
  std::vector<uintptr_t> pages;
  std::vector<Oop> from;
  s.forEachInstanceOf(h.pointClass, [&](HeapObject* o) {
    from.push_back(Oop::fromObject(o));
    uintptr_t start = o->blockStart(), end = start + o->totalBytes();
    for (uintptr_t p = start & ~(WriteTracker::kPageSize - 1); p < end; p += WriteTracker::kPageSize)
      pages.push_back(p);
  });
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  REQUIRE(from.size() == kPoints);
  size_t counted = s.census()->pagesFound();
  CHECK(counted == pages.size());

  WriteTracker::releaseSpareChunks(0);  // the pool would hold them all
  s.armCheckpoint();
  s.prepareCheckpointCopies(counted);
  for (int i = 0; i < 5000 && !(s.checkpointCopiesPrepared() && s.checkpointArmingDone()); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(s.checkpointCopiesPrepared());
  // The points' pages were left out of the arming (one long run): a write to one before
  // the checkpoint is what the checkpoint keeps.
  s.storePointer(from[5], 0, Oop::fromSmallInteger(12345));
  {
    SpaceCheckpoint cp(s);
    // Copied as the checkpoint began, into the copies written ahead.
    CHECK(cp.pagesSaved() >= counted);
    CHECK(cp.pagesSavedIntoPrepared() >= counted);
    std::vector<Oop> to;
    for (size_t i = 0; i < kPoints; i++) to.push_back(h.point(-int64_t(i), 2, Tenure::Old));
    size_t savedBefore = cp.pagesSaved();
    s.becomeForward(from, to, CopyHash::Yes);
    CHECK(cp.pagesSaved() == savedBefore);  // the become saved nothing more
    cp.rollback();
  }
  for (size_t i = 0; i < kPoints; i++)
    CHECK(TestHeap::x(points.get().object()->slot(i)) == (i == 5 ? 12345 : int64_t(i)));
  h.verify();
}

TEST_CASE("an armed checkpoint leaves out long runs of a census's pages, in address order, up to a bound") {
  auto r = [](uintptr_t a, uintptr_t b) { return MemoryRange{a << 12, b << 12}; };
  auto run = [](uintptr_t a, uintptr_t b) { return std::pair<uintptr_t, uintptr_t>{a << 12, b << 12}; };
  auto same = [](const std::vector<MemoryRange>& x, const std::vector<MemoryRange>& y) {
    return std::equal(x.begin(), x.end(), y.begin(), y.end(),
                      [](const MemoryRange& a, const MemoryRange& b) { return a.start == b.start && a.end == b.end; });
  };
  std::vector<MemoryRange> ranges = {r(0, 100), r(200, 300), r(400, 500)};
  CHECK(same(Space::withoutRuns(ranges, {}), ranges));
  // A run inside a range splits it; one at its start or end shortens it; a short one
  // (under 32 pages) stays protected.
  CHECK(same(Space::withoutRuns(ranges, {run(10, 50), run(60, 70), run(200, 240), run(460, 500)}),
             {r(0, 10), r(50, 100), r(240, 300), r(400, 460)}));
  // A run over two ranges, and over the gap between them.
  CHECK(same(Space::withoutRuns(ranges, {run(250, 450)}), {r(0, 100), r(200, 250), r(450, 500)}));
  // What the arming leaves out (and begin() copies first) is the rest of each range.
  CHECK(same(Space::pagesNotIn(ranges, Space::withoutRuns(ranges, {run(250, 450)})), {r(250, 300), r(400, 450)}));
  CHECK(same(Space::pagesNotIn(ranges, Space::withoutRuns(ranges, {run(10, 50), run(460, 500)})),
             {r(10, 50), r(460, 500)}));
  CHECK(same(Space::pagesNotIn(ranges, ranges), {}));
  CHECK(same(Space::pagesNotIn(ranges, {}), ranges));
  // A run covering a range whole removes it.
  CHECK(same(Space::withoutRuns(ranges, {run(150, 350)}), {r(0, 100), r(400, 500)}));
  // At most kMaxUnprotectedRuns runs are left out.
  std::vector<std::pair<uintptr_t, uintptr_t>> many;
  for (uintptr_t i = 0; i < Space::kMaxUnprotectedRuns + 10; i++) many.push_back(run(1000 + 64 * i, 1040 + 64 * i));
  std::vector<MemoryRange> big = {r(1000, 1000 + 64 * (Space::kMaxUnprotectedRuns + 10))};
  std::vector<MemoryRange> left = Space::withoutRuns(big, many);
  REQUIRE(left.size() == Space::kMaxUnprotectedRuns);  // the pieces between those runs, and the rest
  CHECK(left.back().start == (1040 + 64 * (Space::kMaxUnprotectedRuns - 1)) << 12);
  CHECK(left.back().end == big[0].end);
}
