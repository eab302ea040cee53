// CapturedPages: the pages of a copy-on-write capture and, for each, where its contents as
// of the capture are. Shared by the writer thread, the fault path (a signal handler on a
// program thread, or the userfaultfd service thread) and, through the protection, the
// program. While a page is protected its live contents are still the captured ones; the
// first of writer and fault path to claim it copies it (the writer into its buffer, the
// fault path into the shadow); only then may the page become writable.
//
// Page states, each an atomic byte; every transition is made by the one who claimed it:
//   NotWritten --claim (CAS)--> Copying --writer done--> Done
//                                       --fault path done--> Saved --writer took shadow--> Done
//                                       --fault path found zeros--> Zeros --writer wrote zeros--> Done
//   Saved --writer spilled it--> Spilled --writer read it back--> Done
// Invariant: a page is made writable only in state Saved, Zeros, Spilled or Done. Only the
// writer moves a page on from Saved or Zeros; a Spilled page's captured contents are in
// the writer's SpillFile, its shadow given back; a Zeros page's captured contents were all
// zero bytes, so nothing of it was copied: free memory the heap wrote ahead (a spare
// segment, a warmed bump area) or cleared, which promotions under load fill first.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "image/PageWriter.h"
#include "image/ZeroMappedBytes.h"

namespace image {

class CapturedPages {
 public:
  static constexpr size_t kPageSize = PageWriter::kPageSize;
  static constexpr size_t kNone = SIZE_MAX;
  enum State : uint8_t { NotWritten, Copying, Saved, Done, Spilled, Zeros };

  // Maps the shadow (reserved, not committed). Throws std::runtime_error when it cannot.
  explicit CapturedPages(const std::vector<PageRange>& ranges);
  CapturedPages(const CapturedPages&) = delete;
  CapturedPages& operator=(const CapturedPages&) = delete;

  const std::vector<PageRange>& ranges() const { return ranges_; }
  size_t pageCount() const { return pageCount_; }
  // Pages are numbered across ranges, in the order of the ranges.
  size_t firstPage(size_t range) const { return firstPage_[range]; }
  size_t pagesOf(size_t range) const { return (ranges_[range].end - ranges_[range].start) / kPageSize; }
  uintptr_t address(size_t page) const;
  // The page holding `address` and its range, or kNone. Signal safe.
  size_t pageAt(uintptr_t address, size_t* range = nullptr) const;
  // The highest-numbered page of the capture inside [start, end), or kNone when the
  // capture holds none of it.
  size_t lastPageIn(uintptr_t start, uintptr_t end) const;

  // The fault path: returns once the page's captured contents are safe elsewhere (state
  // Saved, Zeros or Done), copying them to the shadow if nobody had and they are not all
  // zeros. While the shadow holds shadowBound() saved copies, it first waits for the
  // writer to spill some. Signal safe.
  void preserve(size_t page);
  // A pool of `pages` shadow pages that saved copies take first, reused once the writer
  // has taken or spilled their copy: each page saved elsewhere lands on a shadow page of
  // its own, never touched before, and its first touch traps (11.5 us a page with the
  // copy on this machine kind, half of a busy program's longest waits at a snapshot's
  // start: docs/PERFORMANCE.md). Reserved in the pause (no pages yet); warmPool() faults
  // them in, on the writer's thread. Copies past the pool go to their own shadow page.
  void reservePool(size_t pages);
  // The writer, before its first batch. The pool counts as extra memory from here on.
  void warmPool();
  // Saved copies that went to the pool.
  size_t pagesSavedInPool() const { return pagesSavedInPool_.load(std::memory_order_relaxed); }
  // The bound on saved copies in the shadow, set in the pause by a capture whose writer
  // spills them (CowCapture), and lifted (SIZE_MAX, the default) before its fault path
  // ends or when it cannot spill. It keeps the extra memory bounded when the writer, which
  // runs only on cores nothing else wants, falls behind a program that writes in bursts.
  void boundShadow(size_t pages) { shadowBound_.store(pages, std::memory_order_release); }
  size_t shadowBound() const { return shadowBound_.load(std::memory_order_acquire); }
  bool shadowFull() const { return shadowHeld_.load(std::memory_order_relaxed) >= shadowBound(); }
  // Saves that waited for room in the shadow.
  size_t savesWaited() const { return savesWaited_.load(std::memory_order_relaxed); }
  // Where take() found a page's captured contents (Spilled: the caller reads them from
  // where it spilled them; `out` is left alone; Zeros: `out` is zeroed, from a page never
  // touched or one the fault path found all zeros).
  enum class Taken : uint8_t { Page, Shadow, Zeros, Spilled };
  // The writer: copies the page's captured contents to `out`, from the page itself (still
  // protected) or from its shadow. `unpopulated`: the page had no contents when the writer
  // looked (PageResidence) before calling; if nobody claimed it since, nobody wrote it
  // (a write claims first), so its contents are zeros: `out` is zeroed without reading
  // the page (which would populate it).
  Taken take(size_t page, uint8_t* out, bool unpopulated = false);
  // The writer, after writing pages [first, first + count), `fromShadow` of them taken from
  // their shadow copies: gives those copies' memory back.
  void releaseShadow(size_t first, size_t count, size_t fromShadow);

  // The writer, spilling: the first page at or after `from` whose saved copy is in its
  // shadow (state Saved), or pageCount(); the copy; and, once the copy is elsewhere,
  // marking it spilled, which gives the shadow's memory back.
  size_t nextSaved(size_t from) const;
  const uint8_t* shadowOf(size_t page) const { return copyOf(page); }
  void markSpilled(size_t page);
  // Saved copies in the shadow now: memory the writer can give back by spilling them.
  size_t shadowPages() const { return shadowPages_.load(std::memory_order_relaxed); }

  size_t pagesSaved() const { return pagesSaved_.load(std::memory_order_relaxed); }
  // Of them, those found all zeros: recorded as such, nothing copied or spilled.
  size_t zeroPagesSaved() const { return zeroPagesSaved_.load(std::memory_order_relaxed); }
  // Memory beyond the ranges: shadow pages in use plus whatever the writer declared.
  void addExtraBytes(size_t n);
  void removeExtraBytes(size_t n) { extraBytes_.fetch_sub(n, std::memory_order_relaxed); }
  size_t peakExtraBytes() const { return peakExtraBytes_.load(std::memory_order_relaxed); }

 private:
  std::vector<PageRange> ranges_;      // in the caller's order
  std::vector<size_t> firstPage_;      // per range
  std::vector<size_t> rangesByStart_;  // range indexes sorted by start, for pageAt
  size_t pageCount_ = 0;
  static_assert(NotWritten == 0, "page states start as zero-filled memory");
  // Per page, a State, accessed through std::atomic_ref. Mapped, not allocated: its pages
  // are faulted in by the writer and the fault path as they go, not in the pause.
  ZeroMappedBytes states_;
  // Page p's saved copy lives in a page of the pool (reservePool) or, past the pool, at
  // shadow_.data() + p * kPageSize: reserved for every page, committed only for the pages
  // the fault path saves there, so saving needs no allocation.
  ZeroMappedBytes shadow_;
  std::atomic<size_t> pagesSaved_{0};
  std::atomic<size_t> zeroPagesSaved_{0};
  std::atomic<size_t> shadowPages_{0};  // pages in state Saved
  // Shadow pages whose memory is in use: Saved, or taken by the writer and not released.
  std::atomic<size_t> shadowHeld_{0};
  std::atomic<size_t> shadowBound_{SIZE_MAX};  // on shadowHeld_
  std::atomic<size_t> savesWaited_{0};
  // The pool (reservePool): its pages, a bit per page set while a saved copy holds it
  // (bits past poolPages_ set for good), and per captured page the pool page holding its
  // copy plus one, or 0 (accessed through std::atomic_ref<uint32_t>).
  size_t poolPages_ = 0;
  std::unique_ptr<ZeroMappedBytes> pool_;
  std::unique_ptr<std::atomic<uint64_t>[]> poolUsed_;
  size_t poolWords_ = 0;
  std::unique_ptr<ZeroMappedBytes> poolSlotOf_;
  std::atomic<size_t> pagesSavedInPool_{0};
  size_t poolTakenSinceRelease_ = 0;  // the writer's: pool copies take() used since releaseShadow
  std::atomic_ref<uint32_t> poolSlotOf(size_t page) const {
    return std::atomic_ref<uint32_t>(reinterpret_cast<uint32_t*>(poolSlotOf_->data())[page]);
  }
  uint8_t* copyOf(size_t page) const;  // where page's saved copy is
  uint32_t claimPoolPage();            // a free pool page plus one, or 0
  bool freePoolPageOf(size_t page);    // if page's copy is in the pool, frees that pool page: true
  std::atomic<size_t> extraBytes_{0};
  std::atomic<size_t> peakExtraBytes_{0};
};

}  // namespace image
