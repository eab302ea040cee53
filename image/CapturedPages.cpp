// CapturedPages: see CapturedPages.h.
#include "image/CapturedPages.h"

#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace image {

namespace {

// Whether the page at `p` holds only zero bytes. Most pages are not, and show it in their
// first words; the promotion area of a busy heap is, and reading a page costs far less
// than copying it, keeping the copy and spilling it to disk. Signal safe.
bool allZeros(const void* p) {
  const uint64_t* w = static_cast<const uint64_t*>(p);
  uint64_t any = 0;
  for (size_t i = 0; i < CapturedPages::kPageSize / sizeof(uint64_t); i += 8) {
    for (size_t j = 0; j < 8; j++) any |= w[i + j];
    if (any != 0) return false;
  }
  return true;
}

// The pages of `ranges`, after checking that each is page aligned.
size_t pagesIn(const std::vector<PageRange>& ranges) {
  size_t pages = 0;
  for (const PageRange& r : ranges) {
    if (r.end < r.start || r.start % CapturedPages::kPageSize != 0 || r.end % CapturedPages::kPageSize != 0) {
      throw std::runtime_error("page ranges must be page aligned");
    }
    pages += (r.end - r.start) / CapturedPages::kPageSize;
  }
  return pages;
}

}  // namespace

CapturedPages::CapturedPages(const std::vector<PageRange>& ranges)
    : ranges_(ranges),
      pageCount_(pagesIn(ranges)),
      states_(pageCount_, "page states"),
      shadow_(pageCount_ * kPageSize, "shadow pages") {
  size_t first = 0;
  for (const PageRange& r : ranges_) {
    firstPage_.push_back(first);
    first += (r.end - r.start) / kPageSize;
    rangesByStart_.push_back(rangesByStart_.size());
  }
  std::sort(rangesByStart_.begin(), rangesByStart_.end(),
            [&](size_t a, size_t b) { return ranges_[a].start < ranges_[b].start; });
}

void CapturedPages::reservePool(size_t pages) {
  pages = std::min<size_t>(pages, UINT32_MAX - 1);
  if (pages == 0) return;
  pool_ = std::make_unique<ZeroMappedBytes>(pages * kPageSize, "the shadow's pool");
  poolSlotOf_ = std::make_unique<ZeroMappedBytes>(pageCount_ * sizeof(uint32_t), "the shadow pool's index");
  poolWords_ = (pages + 63) / 64;
  poolUsed_ = std::make_unique<std::atomic<uint64_t>[]>(poolWords_);
  for (size_t w = 0; w < poolWords_; w++) {
    size_t first = w * 64;
    // Bits for pages past the pool stay set: never claimed.
    poolUsed_[w].store(first + 64 <= pages ? 0 : ~uint64_t(0) << (pages - first), std::memory_order_relaxed);
  }
  poolPages_ = pages;
}

void CapturedPages::warmPool() {
  if (poolPages_ == 0) return;
#ifdef MADV_POPULATE_WRITE
  // Only faults the pages in: a fault path may be copying into one of them meanwhile.
  madvise(pool_->data(), poolPages_ * kPageSize, MADV_POPULATE_WRITE);
#endif
  addExtraBytes(poolPages_ * kPageSize);
}

uint8_t* CapturedPages::copyOf(size_t page) const {
  if (poolPages_ != 0) {
    uint32_t slot = poolSlotOf(page).load(std::memory_order_acquire);
    if (slot != 0) return pool_->data() + (slot - 1) * kPageSize;
  }
  return shadow_.data() + page * kPageSize;
}

uint32_t CapturedPages::claimPoolPage() {
  for (size_t w = 0; w < poolWords_; w++) {
    uint64_t used = poolUsed_[w].load(std::memory_order_relaxed);
    while (used != ~uint64_t(0)) {
      int bit = __builtin_ctzll(~used);
      if (poolUsed_[w].compare_exchange_weak(used, used | (uint64_t(1) << bit), std::memory_order_acquire)) {
        return uint32_t(w * 64 + size_t(bit) + 1);
      }
    }
  }
  return 0;
}

bool CapturedPages::freePoolPageOf(size_t page) {
  if (poolPages_ == 0) return false;
  uint32_t slot = poolSlotOf(page).exchange(0, std::memory_order_acq_rel);
  if (slot == 0) return false;
  size_t index = slot - 1;
  poolUsed_[index / 64].fetch_and(~(uint64_t(1) << (index % 64)), std::memory_order_release);
  return true;
}

uintptr_t CapturedPages::address(size_t page) const {
  size_t range = size_t(std::upper_bound(firstPage_.begin(), firstPage_.end(), page) - firstPage_.begin()) - 1;
  // An empty range shares its first page number with the next range: upper_bound skips it.
  return ranges_[range].start + (page - firstPage_[range]) * kPageSize;
}

size_t CapturedPages::lastPageIn(uintptr_t start, uintptr_t end) const {
  size_t last = kNone;
  // The ranges by start below `end`, down to the first that ends at or below `start`
  // (ranges do not overlap, so none further down reaches into [start, end)).
  auto it = std::upper_bound(rangesByStart_.begin(), rangesByStart_.end(), end,
                             [&](uintptr_t a, size_t r) { return a <= ranges_[r].start; });
  while (it != rangesByStart_.begin()) {
    size_t r = *--it;
    const PageRange& range = ranges_[r];
    if (range.end == range.start) continue;  // empty
    if (range.end <= start) break;
    size_t page = firstPage_[r] + (std::min(end, range.end) - range.start - 1) / kPageSize;
    if (last == kNone || page > last) last = page;
  }
  return last;
}

size_t CapturedPages::pageAt(uintptr_t address, size_t* range) const {
  // The last range (by start) starting at or below the address.
  auto it = std::upper_bound(rangesByStart_.begin(), rangesByStart_.end(), address,
                             [&](uintptr_t a, size_t r) { return a < ranges_[r].start; });
  while (it != rangesByStart_.begin()) {
    size_t r = *--it;
    if (address >= ranges_[r].end) {
      if (ranges_[r].end == ranges_[r].start) continue;  // empty: look further down
      return kNone;
    }
    if (range) *range = r;
    return firstPage_[r] + (address - ranges_[r].start) / kPageSize;
  }
  return kNone;
}

void CapturedPages::preserve(size_t page) {
  std::atomic_ref<uint8_t> state(states_.data()[page]);
  if (shadowFull() && state.load(std::memory_order_acquire) == NotWritten) {
    // Room first: the writer spills the copies ahead of it at its next batch (or takes
    // this page meanwhile). A program stopped here leaves its core to the writer.
    savesWaited_.fetch_add(1, std::memory_order_relaxed);
    timespec nap{0, 50000};
    while (shadowFull() && state.load(std::memory_order_acquire) == NotWritten) nanosleep(&nap, nullptr);
  }
  uint8_t s = NotWritten;
  if (state.compare_exchange_strong(s, Copying, std::memory_order_acquire)) {
    // Still protected: nobody writes the page while it is looked at.
    const void* live = reinterpret_cast<const void*>(address(page));
    if (allZeros(live)) {
      pagesSaved_.fetch_add(1, std::memory_order_relaxed);
      zeroPagesSaved_.fetch_add(1, std::memory_order_relaxed);
      state.store(Zeros, std::memory_order_release);
      return;
    }
    uint32_t slot = poolPages_ != 0 ? claimPoolPage() : 0;
    if (slot != 0) {
      std::memcpy(pool_->data() + (slot - 1) * kPageSize, live, kPageSize);
      poolSlotOf(page).store(slot, std::memory_order_release);
      pagesSavedInPool_.fetch_add(1, std::memory_order_relaxed);
    } else {
      std::memcpy(shadow_.data() + page * kPageSize, live, kPageSize);
      addExtraBytes(kPageSize);  // the pool's pages count from warmPool()
    }
    pagesSaved_.fetch_add(1, std::memory_order_relaxed);
    shadowPages_.fetch_add(1, std::memory_order_relaxed);
    shadowHeld_.fetch_add(1, std::memory_order_relaxed);
    state.store(Saved, std::memory_order_release);
    return;
  }
  // The writer is copying it: a page copy takes a microsecond, but the writer runs under
  // SCHED_IDLE (BackgroundPriority.h) and may have been preempted in the middle. Yielding
  // would keep this core busy at the program's priority, where the writer gets no turn:
  // after a few microseconds the wait sleeps instead. (Signal safe: the mprotect fault
  // path runs this in a SIGSEGV handler.)
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (state.load(std::memory_order_acquire) == Copying) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t waitedNanos = (now.tv_sec - start.tv_sec) * 1000000000LL + (now.tv_nsec - start.tv_nsec);
    if (waitedNanos < 20000) {
      sched_yield();
    } else {
      timespec nap{0, 50000};
      nanosleep(&nap, nullptr);
    }
  }
}

CapturedPages::Taken CapturedPages::take(size_t page, uint8_t* out, bool unpopulated) {
  std::atomic_ref<uint8_t> state(states_.data()[page]);
  uint8_t s = NotWritten;
  if (state.compare_exchange_strong(s, Copying, std::memory_order_acquire)) {
    if (unpopulated) {
      std::memset(out, 0, kPageSize);
    } else {
      std::memcpy(out, reinterpret_cast<const void*>(address(page)), kPageSize);
    }
    state.store(Done, std::memory_order_release);
    return unpopulated ? Taken::Zeros : Taken::Page;
  }
  while ((s = state.load(std::memory_order_acquire)) == Copying) sched_yield();
  // Saved, Zeros or Spilled: only the writer moves a page on from there.
  if (s == Zeros) {
    std::memset(out, 0, kPageSize);
    state.store(Done, std::memory_order_release);
    return Taken::Zeros;
  }
  if (s == Spilled) {
    state.store(Done, std::memory_order_release);
    return Taken::Spilled;
  }
  std::memcpy(out, copyOf(page), kPageSize);
  if (freePoolPageOf(page)) poolTakenSinceRelease_++;  // the copy is in `out` now
  state.store(Done, std::memory_order_release);
  shadowPages_.fetch_sub(1, std::memory_order_relaxed);
  return Taken::Shadow;
}

size_t CapturedPages::nextSaved(size_t from) const {
  for (size_t p = from; p < pageCount_; p++) {
    if (std::atomic_ref<uint8_t>(states_.data()[p]).load(std::memory_order_acquire) == Saved) return p;
  }
  return pageCount_;
}

void CapturedPages::markSpilled(size_t page) {
  std::atomic_ref<uint8_t>(states_.data()[page]).store(Spilled, std::memory_order_release);
  if (!freePoolPageOf(page)) {  // a pool page stays faulted in for the next copy
    madvise(shadow_.data() + page * kPageSize, kPageSize, MADV_DONTNEED);
    removeExtraBytes(kPageSize);  // before the room it makes is seen: the peak counts no page twice
  }
  shadowPages_.fetch_sub(1, std::memory_order_relaxed);
  shadowHeld_.fetch_sub(1, std::memory_order_relaxed);
}

void CapturedPages::releaseShadow(size_t first, size_t count, size_t fromShadow) {
  // The pool's copies were freed as take() used them; the others give their memory back.
  size_t fromPool = std::exchange(poolTakenSinceRelease_, 0);
  if (fromShadow > fromPool) {
    madvise(shadow_.data() + first * kPageSize, count * kPageSize, MADV_DONTNEED);
    removeExtraBytes((fromShadow - fromPool) * kPageSize);  // first, as in markSpilled
  }
  shadowHeld_.fetch_sub(fromShadow, std::memory_order_relaxed);
}

void CapturedPages::addExtraBytes(size_t n) {
  size_t now = extraBytes_.fetch_add(n, std::memory_order_relaxed) + n;
  size_t peak = peakExtraBytes_.load(std::memory_order_relaxed);
  while (now > peak && !peakExtraBytes_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

}  // namespace image
