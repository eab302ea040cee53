// WriteTracker: see WriteTracker.h.
#include "space/WriteTracker.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "space/Assert.h"
#include "space/KernelWrites.h"
#include "space/Reservation.h"
#include "space/RunAhead.h"
#include "space/UncheckedPages.h"

namespace space {

namespace {

// Dirty runs closer than this are protected again in one call at a checkpoint (see begin).
constexpr size_t kCoalesceGapBytes = size_t(1) << 20;

void protect(uintptr_t start, size_t bytes, int protection) {
  if (bytes == 0) return;
  if (mprotect(reinterpret_cast<void*>(start), bytes, protection) != 0) {
    throw std::runtime_error(std::string("cannot change page protection: ") + std::strerror(errno));
  }
}

// Calls f(start, bytes) for [start, end) in pieces of at most pieceBytes, in address order.
template <class F>
void inPieces(uintptr_t start, uintptr_t end, size_t pieceBytes, F&& f) {
  for (uintptr_t a = start; a < end;) {
    size_t n = std::min<uintptr_t>(pieceBytes, end - a);
    f(a, n);
    a += n;
  }
}

// The index of the first non-zero byte of [bytes] at or after [from], or bytes.size().
// Word by word: nearly every byte of a heap's per-page bytes is zero.
size_t nextNonZero(const std::vector<uint8_t>& bytes, size_t from) {
  const size_t n = bytes.size();
  for (; from < n && from % 8 != 0; from++) {
    if (bytes[from]) return from;
  }
  for (; from + 8 <= n; from += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + from, sizeof word);
    if (word != 0) break;
  }
  for (; from < n; from++) {
    if (bytes[from]) return from;
  }
  return n;
}

// Calls [piece](from, to, holder) for the parts of [m] in address order: `holder` is the
// range of [ranges] (sorted by start, disjoint) that holds [from, to), or nullptr for a
// part none of them holds. Costs a lookup per range met, not per page.
template <typename R, typename Piece>
void forEachPiece(const MemoryRange& m, const std::vector<R>& ranges, Piece&& piece) {
  auto it = std::partition_point(ranges.begin(), ranges.end(), [&](const R& r) { return r.memory.end <= m.start; });
  uintptr_t at = m.start;
  for (; it != ranges.end() && it->memory.start < m.end; ++it) {
    if (it->memory.start > at) piece(at, it->memory.start, static_cast<const R*>(nullptr));
    uintptr_t to = std::min(m.end, it->memory.end);
    piece(std::max(at, it->memory.start), to, &*it);
    at = to;
  }
  if (at < m.end) piece(at, m.end, static_cast<const R*>(nullptr));
}

}  // namespace

void WriteTracker::setRanges(std::span<const MemoryRange> ranges) {
  ranges_.clear();
  pagesTracked_ = 0;
  savedRuns_ = 0;
  for (const MemoryRange& m : ranges) {
    if (m.end <= m.start) continue;
    size_t pages = (m.end - m.start) / kPageSize;
    ranges_.push_back(
        Range{m, std::vector<uint8_t>(pages, 0), std::vector<uint8_t>((pages + kBlockPages - 1) / kBlockPages, 0)});
    pagesTracked_ += pages;
  }
  std::sort(ranges_.begin(), ranges_.end(),
            [](const Range& a, const Range& b) { return a.memory.start < b.memory.start; });
  for (size_t i = 1; i < ranges_.size(); i++) {
    ESPELL_ASSERT(ranges_[i - 1].memory.end <= ranges_[i].memory.start, "a write tracker's ranges overlap");
  }
}

WriteTracker::WriteTracker(std::span<const MemoryRange> ranges) {
  awaitPagesChecked();  // a resumed image's pages must not be made readable unchecked
  setRanges(ranges);
  addWriteFaultOwner(this);
  active_ = true;
  try {
    for (const Range& r : ranges_) protect(r.memory.start, r.memory.end - r.memory.start, PROT_READ);
  } catch (...) {
    release();
    throw;
  }
}

WriteTracker::WriteTracker(std::span<const MemoryRange> ranges, Armed how) {
  awaitPagesChecked();  // a resumed image's pages must not be made readable unchecked
  setRanges(ranges);
  leftOut_ = std::move(how.leftOut);
  addWriteFaultOwner(this);
  capturesActive.fetch_add(1);  // the program runs beside protected pages: a capture
  armed_ = true;
  if (how.inBackground) {
    armJob_ = PageReleaseThread::instance().post([this, populate = how.populate] {
      // Only faults the pages in (as writing each would, without changing a byte): the
      // program may be writing them meanwhile.
      if (populate.end > populate.start) Reservation::populate(populate.start, populate.end - populate.start);
      try {
        // A range at a time, in pieces, so that the program's own faults (which wait for
        // each call's lock on the mappings) are never held up for long. Pieces are whole
        // blocks from the range's start: a block an armed fault unprotects lies in the
        // pieces protected already, and is not protected again.
        for (const Range& r : ranges_) {
          inPieces(r.memory.start, r.memory.end, kArmPieceBytes,
                   [](uintptr_t a, size_t n) { protect(a, n, PROT_READ); });
        }
      } catch (const std::exception& e) {
        armFailure_ = e.what();
      }
    });
    return;
  }
  try {
    for (const Range& r : ranges_) protect(r.memory.start, r.memory.end - r.memory.start, PROT_READ);
  } catch (...) {
    disarm();
    throw;
  }
}

bool WriteTracker::waitUntilArmed() {
  if (armJob_ != 0) {
    PageReleaseThread::instance().waitFor(armJob_);
    armJob_ = 0;
  }
  return armFailure_.empty();
}

void WriteTracker::disarm() {
  stopPreparing();
  waitUntilArmed();  // its job must not protect what is unprotected here
  unprotectAll();
  writtenAhead_.clear();
  freeChunks();  // the prepared ones: a disarmed tracker saves nothing
  removeWriteFaultOwner(this);
  capturesActive.fetch_sub(1);
  armed_ = false;
}

void WriteTracker::begin(std::span<const MemoryRange> ranges) {
  if (!armed_) throw std::logic_error("WriteTracker::begin on a tracker that is not armed");
  stopPreparing();  // the pause takes the copies prepared so far, and waits for no more
  if (!waitUntilArmed()) throw std::runtime_error("protecting ahead failed: " + armFailure_);
  std::vector<Range> armedRanges = std::move(ranges_);
  setRanges(ranges);
  // The pages the checkpoint must keep that are writable now: those written since the
  // arming (marked by the armed faults and writeAhead), those the program has filled
  // since, which were never protected (eden past its armed top, a new segment), and those
  // the arming left out (an update's instances: Space::armCheckpoint). Copied at once into
  // chunks written before (prepared for this pause, or left by earlier trackers), they
  // need no protection: copying a 128 KiB block takes about 10 us, protecting pages a
  // TLB flush sent to the other cores (100 us and more when one is busy), and making a
  // protected page writable again, when the pause writes it, 0.6-0.7 us. What warm
  // chunks cannot hold is protected instead (fresh memory costs a fault per page).
  //
  // The pages the pause is known to write come first: those the arming left out (a
  // migration's instances, which the copies prepared were counted for) and those written
  // ahead (writeAhead). The program's own pages (written since the arming, eden filled
  // since) the pause may not write at all: when room runs short, they are the ones
  // protected, and cost a fault only if written. (Eden lies lowest: copied in address
  // order, a busy program's took the room, and the instances' pages were then protected
  // and saved in the pause into fresh memory, a fault each.)
  auto leftOut = [&](uintptr_t page) {
    auto it = std::upper_bound(leftOut_.begin(), leftOut_.end(), page,
                               [](uintptr_t a, const MemoryRange& m) { return a < m.start; });
    return it != leftOut_.begin() && page < (--it)->end;
  };
  std::vector<uintptr_t> ahead = std::move(writtenAhead_);
  writtenAhead_.clear();
  std::sort(ahead.begin(), ahead.end());
  std::vector<uintptr_t> writable, programPages;
  // Every walk below goes over the heap's per-page bytes a word at a time, or over ranges:
  // a walk page by page, looking each page up among the ranges, took 3-6 ms of the pause
  // in a heap of 728 MiB (186k pages), where what is written is a few hundred pages.
  for (const Range& a : armedRanges) {
    for (size_t i = nextNonZero(a.saved, 0); i < a.saved.size(); i = nextNonZero(a.saved, i + 1)) {
      uintptr_t page = a.memory.start + i * kPageSize;
      // A page the pause's ranges no longer cover holds nothing the restored state reads
      // (eden above its top after a scavenge): nothing to copy.
      if (!rangeOf(page)) continue;
      (std::binary_search(ahead.begin(), ahead.end(), page) ? writable : programPages).push_back(page);
    }
  }
  for (const Range& r : ranges_) {
    forEachPiece(r.memory, armedRanges, [&](uintptr_t from, uintptr_t to, const Range* armed) {
      if (armed) return;
      for (uintptr_t page = from; page < to; page += kPageSize)
        (leftOut(page) ? writable : programPages).push_back(page);
    });
  }
  std::sort(writable.begin(), writable.end());
  std::sort(programPages.begin(), programPages.end());
  writable.insert(writable.end(), programPages.begin(), programPages.end());
  // Chunks written before: those prepared for this pause (prepareCopies) and the pool.
  size_t room = (spareChunksKept() + chunksPrepared()) * Chunk::kPages;
  Range* r = nullptr;
  for (uintptr_t page : writable) {
    if (room-- == 0) break;
    if (!r || page < r->memory.start || page >= r->memory.end) r = rangeOf(page);
    if (r && !savePage(*r, (page - r->memory.start) / kPageSize)) break;
  }
  // Runs of pages that are not clean get protected: one call per run. Each call flushes
  // the TLB, which on a virtual machine costs about 100 us, as much as a walk over a few
  // hundred pages. So runs up to kCoalesceGapBytes apart are protected in one call, the
  // clean pages between them included: they are read-only since the arming, and stay so.
  // A clean page lies in an armed range and was not written since (its `saved` byte is 0).
  // `state` holds a byte per page of a tracked range: kClean, kProtect (written since the
  // arming, or never armed), or kCopied (copied above: it stays writable, and a run ends
  // before it).
  enum : uint8_t { kClean = 0, kProtect = 1, kCopied = 2 };
  std::vector<uint8_t> state;
  auto protectRuns = [&](const Range& tracked) {
    state.assign(tracked.saved.size(), kClean);
    forEachPiece(tracked.memory, armedRanges, [&](uintptr_t from, uintptr_t to, const Range* armed) {
      size_t first = (from - tracked.memory.start) / kPageSize, count = (to - from) / kPageSize;
      if (!armed) {
        std::fill_n(state.begin() + long(first), count, uint8_t(kProtect));
        return;
      }
      auto written = armed->saved.begin() + long((from - armed->memory.start) / kPageSize);
      std::transform(written, written + long(count), state.begin() + long(first),
                     [](uint8_t saved) { return saved ? uint8_t(kProtect) : uint8_t(kClean); });
    });
    for (size_t i = nextNonZero(tracked.saved, 0); i < tracked.saved.size(); i = nextNonZero(tracked.saved, i + 1))
      state[i] = kCopied;
    uintptr_t runStart = 0, runEnd = 0;
    for (size_t i = nextNonZero(state, 0); i < state.size(); i = nextNonZero(state, i + 1)) {
      uintptr_t page = tracked.memory.start + i * kPageSize;
      if (state[i] == kCopied || (runStart != 0 && page - runEnd > kCoalesceGapBytes)) {
        if (runStart != 0) protect(runStart, runEnd - runStart, PROT_READ);
        runStart = 0;
        if (state[i] == kCopied) continue;
      }
      if (runStart == 0) runStart = page;
      runEnd = page + kPageSize;
    }
    if (runStart != 0) protect(runStart, runEnd - runStart, PROT_READ);
  };
  try {
    for (const Range& tracked : ranges_) protectRuns(tracked);
    // Armed pages no range of the pause covers are not to be tracked: writable again. The
    // written ones are too, mostly, but one markWritten unprotected before the arming's
    // job reached it was protected again.
    for (const Range& a : armedRanges) {
      forEachPiece(a.memory, ranges_, [&](uintptr_t from, uintptr_t to, const Range* tracked) {
        if (tracked == nullptr) protect(from, to - from, PROT_READ | PROT_WRITE);
      });
    }
  } catch (...) {
    ranges_.insert(ranges_.end(), std::make_move_iterator(armedRanges.begin()),
                   std::make_move_iterator(armedRanges.end()));
    disarm();
    freeChunks();
    savedCount_ = savedRuns_ = 0;
    throw;
  }
  armed_ = false;
  active_ = true;
  capturesActive.fetch_sub(1);  // the program is paused while tracking
}

WriteTracker::~WriteTracker() {
  if (armed_) disarm();
  if (active_) release();
  finishRelease();
}

WriteTracker::Range* WriteTracker::rangeOf(uintptr_t address) {
  // The range whose start is the last one at or below the address.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                             [](uintptr_t a, const Range& r) { return a < r.memory.start; });
  if (it == ranges_.begin()) return nullptr;
  Range& r = *--it;
  return address < r.memory.end ? &r : nullptr;
}

void WriteTracker::markWritten(MemoryRange range) {
  if (!armed_) return;
  uintptr_t start = range.start & ~(kPageSize - 1), end = (range.end + kPageSize - 1) & ~(kPageSize - 1);
  for (Range& r : ranges_) {
    uintptr_t from = std::max(start, r.memory.start), to = std::min(end, r.memory.end);
    if (from >= to) continue;
    size_t first = (from - r.memory.start) / kPageSize, count = (to - from) / kPageSize;
    std::fill_n(r.saved.begin() + long(first), count, uint8_t(1));
    unprotect(r, first, count);  // refused (the kernel's limit on mappings): each page faults once
  }
}

bool WriteTracker::handleFault(uintptr_t address) {
  if (!active_ && !armed_ && !releasing()) return false;
  Range* found = rangeOf(address);
  if (!found) return false;
  Range& r = *found;
  size_t index = (address - r.memory.start) / kPageSize;
  if (!active_) {
    size_t block = index / kBlockPages;
    size_t first = block * kBlockPages;
    size_t count = std::min(kBlockPages, r.saved.size() - first);
    // Released: the unprotecting thread has not reached this block yet.
    if (!armed_) return unprotect(r, first, count);
    // Armed: the page is written before the pause, and begin() copies every page marked
    // here, in the pause: a write marks its own page, or a run's pages ahead (RunAhead.h;
    // a whole block taken at a block's third write was 60-90% of the pages a checkpoint
    // of the busy hub copied, and most of its time).
    size_t ahead = pagesToTake(r.saved.data(), 0, index, r.saved.size(), kBlockPages);
    std::fill_n(r.saved.begin() + long(index), ahead, uint8_t(1));
    if (unprotect(r, index, ahead)) return true;
    // The mapping cannot split (the kernel's limit on mappings): the whole block.
    std::fill_n(r.saved.begin() + long(first), count, uint8_t(1));
    return unprotect(r, first, count);
  }
  // Saved already (another thread raced us; none today): it only needs to be writable.
  if (r.saved[index]) return unprotect(r, index, 1);
  faults_++;
  size_t block = index / kBlockPages;
  // Its third fault, next to a page saved already: a run of writes, take the rest of the
  // block at once. Scattered writes (a method dictionary here, a class there) each save
  // their own page: a block's copies would cost more than their faults.
  bool nextToSaved = (index > 0 && r.saved[index - 1]) || (index + 1 < r.saved.size() && r.saved[index + 1]);
  bool wholeBlock = r.blockFaulted[block] >= 2 && nextToSaved;
  if (r.blockFaulted[block] < 2) r.blockFaulted[block]++;
  if (wholeBlock) {
    if (!saveBlock(r, block)) return false;
  } else if (!savePage(r, index)) {
    return false;  // no memory for the copy: the fault is reported as a crash
  }
  if (savedRuns_ >= kMaxSavedRuns) {
    saveAllRemaining();
    return true;
  }
  size_t first = wholeBlock ? block * kBlockPages : index;
  size_t count = wholeBlock ? std::min(kBlockPages, r.saved.size() - first) : 1;
  // When the kernel refuses to split the mapping once more: copy the rest at once.
  if (!unprotect(r, first, count)) saveAllRemaining();
  return true;
}

void WriteTracker::saveAhead(std::vector<uintptr_t>& pages) {
  if (!active_ || copiedAll_) return;
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  Range* run = nullptr;  // the run being gathered: pages [first, last] of *run
  size_t first = 0, last = 0;
  auto saveRun = [&] {
    if (!run) return true;
    size_t end = first;  // pages [first, end) are saved
    while (end <= last && (run->saved[end] || savePage(*run, end))) end++;
    // A saved page must be writable: its fault would find it saved and not unprotect it.
    if (end > first && !unprotect(*run, first, end - first)) {
      saveAllRemaining();  // the kernel refuses to split the mapping once more
      return false;
    }
    return end > last;  // false: out of memory for copies
  };
  for (uintptr_t page : pages) {
    Range* r = (run && page >= run->memory.start && page < run->memory.end) ? run : rangeOf(page);
    if (!r) continue;
    size_t index = (page - r->memory.start) / kPageSize;
    if (r == run && index - last <= kAheadGapPages) {
      last = index;
      continue;
    }
    if (!saveRun()) return;
    run = r;
    first = last = index;
  }
  if (saveRun() && savedRuns_ >= kMaxSavedRuns) saveAllRemaining();
}

void WriteTracker::writeAhead(std::vector<uintptr_t>& pages) {
  if (!armed_) return;
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  // Marked here, on the program's thread (its armed faults mark pages too); runs of
  // adjacent pages are unprotected in one call each. The calls are outside the pause, so
  // no gap is bridged (every page bridged would be copied in it).
  std::vector<MemoryRange> runs;
  for (uintptr_t page : pages) {
    Range* r = rangeOf(page);
    if (!r) continue;
    size_t index = (page - r->memory.start) / kPageSize;
    if (r->saved[index]) continue;  // written since the arming: writable already
    r->saved[index] = 1;
    writtenAhead_.push_back(page);
    if (!runs.empty() && runs.back().end == page) {
      runs.back().end += kPageSize;
    } else {
      runs.push_back({page, page + kPageSize});
    }
  }
  auto unprotectRuns = [runs = std::move(runs)] {
    // A page the kernel would not unprotect stays marked: begin() copies it, and its
    // first write faults once to be made writable.
    for (const MemoryRange& m : runs)
      mprotect(reinterpret_cast<void*>(m.start), m.end - m.start, PROT_READ | PROT_WRITE);
  };
  if (armJob_ != 0) {
    armJob_ = PageReleaseThread::instance().post(std::move(unprotectRuns));  // after the arming's
  } else {
    unprotectRuns();
  }
}

bool WriteTracker::saveBlock(Range& r, size_t block) {
  size_t end = std::min(r.saved.size(), (block + 1) * kBlockPages);
  for (size_t i = block * kBlockPages; i < end; i++) {
    if (!r.saved[i] && !savePage(r, i)) return false;
  }
  return true;
}

bool WriteTracker::unprotect(const Range& r, size_t first, size_t count) {
  return mprotect(reinterpret_cast<void*>(r.memory.start + first * kPageSize), count * kPageSize,
                  PROT_READ | PROT_WRITE) == 0;
}

bool WriteTracker::savePage(Range& r, size_t index) {
  SavedPage* s = newSavedPage();
  if (!s) return false;  // no memory for the copy: the fault is reported as a crash
  s->page = r.memory.start + index * kPageSize;
  std::memcpy(s->data, reinterpret_cast<const void*>(s->page), kPageSize);
  // A page joins the runs of the saved neighbours it has, or starts one.
  bool below = index > 0 && r.saved[index - 1];
  bool above = index + 1 < r.saved.size() && r.saved[index + 1];
  r.saved[index] = 1;
  savedCount_++;
  savedRuns_ = savedRuns_ + 1 - size_t(below) - size_t(above);
  return true;
}

std::array<std::atomic<WriteTracker::Chunk*>, WriteTracker::kSpareChunks> WriteTracker::spareChunks_{};

WriteTracker::Chunk* WriteTracker::takeSpareChunk() {
  for (auto& slot : spareChunks_) {
    if (slot.load(std::memory_order_relaxed) == nullptr) continue;
    if (Chunk* c = slot.exchange(nullptr)) return c;
  }
  return nullptr;
}

bool WriteTracker::keepSpareChunk(Chunk* c) {
  for (auto& slot : spareChunks_) {
    Chunk* none = nullptr;
    if (slot.compare_exchange_strong(none, c)) return true;
  }
  return false;
}

size_t WriteTracker::spareChunksKept() {
  size_t n = 0;
  for (auto& slot : spareChunks_) n += slot.load() != nullptr;
  return n;
}

std::atomic<int> WriteTracker::spareChunksReadyKeepers_{0};

void WriteTracker::keepSpareChunksReady(bool keep) {
  static std::atomic<PageReleaseThread::Ticket> filled{0};
  if (!keep) {
    PageReleaseThread::instance().waitFor(filled.load());  // the pool's state is settled after
    spareChunksReadyKeepers_.fetch_sub(1);
    return;
  }
  spareChunksReadyKeepers_.fetch_add(1);
  filled.store(PageReleaseThread::instance().post(fillSpareChunks));
}

WriteTracker::Chunk* WriteTracker::mapWrittenChunk(const std::atomic<bool>* stop) {
  void* p = mmap(nullptr, sizeof(Chunk), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  // Written from user mode, page by page, as the spare segment is: populating by the
  // kernel (MAP_POPULATE) leaves half the first-write cost to the thread that saves
  // pages here (OldSpace.h, the spare segment). No one else sees the chunk yet.
  for (size_t offset = 0; offset < sizeof(Chunk); offset += kPageSize) {
    // Looked at every 16 pages (0.1-0.2 ms of writing): one who stops us waits that long.
    if (stop && offset % (16 * kPageSize) == 0 && stop->load(std::memory_order_relaxed)) {
      munmap(p, sizeof(Chunk));
      return nullptr;
    }
    static_cast<volatile uint8_t*>(p)[offset] = 0;
  }
  return static_cast<Chunk*>(p);
}

void WriteTracker::fillSpareChunks() {
  while (spareChunksKept() < kSpareChunks) {
    Chunk* c = mapWrittenChunk();
    if (!c) return;
    if (!keepSpareChunk(c)) {
      munmap(c, sizeof(Chunk));  // a tracker gave its chunks back meanwhile
      return;
    }
  }
}

void WriteTracker::prepareCopies(size_t pages) {
  if (!armed_ || prepareJob_ != 0) return;
  size_t leftOut = 0;
  for (const MemoryRange& m : leftOut_) leftOut += (m.end - m.start) / kPageSize;
  size_t needed = (std::min(pages, pagesTracked_ + leftOut) + Chunk::kPages - 1) / Chunk::kPages;
  if (needed == 0) return;
  prepareJob_ = PageReleaseThread::instance().post([this, chunks = needed] {
    for (size_t i = 0; i < chunks; i++) {
      Chunk* c = mapWrittenChunk(&stopPreparing_);
      if (!c) return;  // stopped, or out of memory: the pause maps what it needs
      c->next = prepared_;
      prepared_ = c;
    }
  });
}

bool WriteTracker::preparingDone() const {
  return prepareJob_ == 0 || PageReleaseThread::instance().finished(prepareJob_);
}

void WriteTracker::stopPreparing() {
  stopPreparing_.store(true, std::memory_order_relaxed);
  if (prepareJob_ != 0) PageReleaseThread::instance().waitFor(prepareJob_);
  prepareJob_ = 0;
}

size_t WriteTracker::chunksPrepared() const {
  size_t n = 0;
  for (Chunk* c = prepared_; c; c = c->next) n++;
  return n;
}

void WriteTracker::releaseSpareChunks(size_t keep) {
  if (spareChunksReadyKeepers_.load() > 0) return;
  for (auto& slot : spareChunks_) {
    if (slot.load() == nullptr) continue;
    if (keep > 0) {
      keep--;
      continue;
    }
    if (Chunk* c = slot.exchange(nullptr)) munmap(c, sizeof(Chunk));
  }
}

WriteTracker::SavedPage* WriteTracker::newSavedPage() {
  if (!chunks_ || chunks_->used == Chunk::kPages) {
    // Chunks prepared for this tracker and those earlier trackers kept come first: their
    // pages are mapped and written already. A small update saves a few pages: a new
    // first chunk is faulted in page by page. Past it, chunks are populated at once (one
    // system call instead of a fault per page).
    Chunk* c = prepared_;
    bool prepared = c != nullptr;
    if (prepared) {
      prepared_ = c->next;
    } else {
      c = takeSpareChunk();
    }
    if (!c) {
      int populate = chunks_ ? MAP_POPULATE : 0;
      void* p = mmap(nullptr, sizeof(Chunk), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | populate, -1, 0);
      if (p == MAP_FAILED) return nullptr;
      c = static_cast<Chunk*>(p);
    }
    c->next = chunks_;
    c->used = 0;
    chunks_ = c;
    newestChunkPrepared_ = prepared;
  }
  if (newestChunkPrepared_) savedIntoPrepared_++;
  return &chunks_->pages[chunks_->used++];
}

void WriteTracker::saveAllRemaining() {
  for (Range& r : ranges_) {
    for (size_t i = 0; i < r.saved.size(); i++) {
      if (!r.saved[i]) savePage(r, i);
    }
  }
  copiedAll_ = true;
  unprotectAll();
}

void WriteTracker::unprotectAll(size_t pieceBytes) {
  for (const Range& r : ranges_) {
    inPieces(r.memory.start, r.memory.end, pieceBytes,
             [](uintptr_t a, size_t n) { mprotect(reinterpret_cast<void*>(a), n, PROT_READ | PROT_WRITE); });
  }
}

void WriteTracker::restore(Release how) {
  if (!active_) return;
  // Saved pages are writable (unprotected when saved); untouched ones need no copy.
  for (Chunk* c = chunks_; c; c = c->next) {
    for (size_t i = 0; i < c->used; i++) {
      std::memcpy(reinterpret_cast<void*>(c->pages[i].page), c->pages[i].data, kPageSize);
    }
  }
  if (how == Release::InBackground) {
    releaseInBackground();
  } else {
    release();
  }
}

void WriteTracker::release() {
  if (!active_) return;
  unprotectAll();
  removeWriteFaultOwner(this);
  active_ = false;
  freeChunks();
}

void WriteTracker::releaseInBackground() {
  if (!active_) return;
  capturesActive.fetch_add(1);  // before the first page could be found read-only by a system call
  releasing_.store(true);
  active_ = false;
  // Unmapping the saved pages costs TLB flushes too: the thread does it.
  releaseJob_ = PageReleaseThread::instance().post([this] {
    unprotectAll(kArmPieceBytes);  // as the arming protects: the program's faults wait for each call
    freeChunks();
  });
}

void WriteTracker::finishRelease() {
  if (!releasing()) return;
  PageReleaseThread::instance().waitFor(releaseJob_);
  removeWriteFaultOwner(this);
  releasing_.store(false);
  capturesActive.fetch_sub(1);
}

void WriteTracker::freeChunks() {
  for (Chunk** list : {&chunks_, &prepared_}) {
    while (Chunk* c = *list) {
      *list = c->next;
      if (!keepSpareChunk(c)) munmap(c, sizeof(Chunk));
    }
  }
}

}  // namespace space
