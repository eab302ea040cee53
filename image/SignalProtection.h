// SignalProtection: write-protection by mprotect(PROT_READ); a write faults with SIGSEGV,
// and the process-wide handler of space/WriteFaults.h asks us: preserve the page, make it
// writable, retry the write. The fallback when userfaultfd is unavailable. Made in the
// pause, protecting every page is most of the pause (about 110-150 ns a page); armed
// ahead of it (SignalArming.h), the pause protects only what was written since.
//
// A write makes its own page writable, or, continuing a run upwards, as many pages ahead
// as the run has behind it, up to kRunAheadPages (space/RunAhead.h): a run of n pages
// costs about log2(n) + 1 faults and protection calls instead of n. A dense sweep
// (DenseSweep.h) takes a block at each fault.
//
// Each run of pages made writable alone splits a mapping in up to three (neighbouring
// runs merge), and the kernel caps mappings per process (vm.max_map_count, 65530 by
// default). So the writer lifts protection over whole batches as it goes, which merges
// them back, and once kMaxWritableRuns runs ahead of the writer are writable alone, a
// write that would start another (or one the kernel refuses a split) instead waits until
// the writer has written its page; the writer stops pacing itself while one waits
// (writerAwaited()).
// Counting runs rather than pages matters: a busy program's promotions fill thousands of
// neighbouring pages, one run, where a bound of 16,384 pages had its writes wait behind a
// paced writer for up to a second (docs/PERFORMANCE.md).
#pragma once

#include <atomic>
#include <memory>

#include "image/ArmedProtection.h"
#include "image/DenseSweep.h"
#include "image/WriteProtection.h"
#include "image/ZeroMappedBytes.h"
#include "space/WriteFaults.h"

namespace image {

class SignalProtection final : public WriteProtection, private space::WriteFaultOwner {
 public:
  static constexpr size_t kMaxWritableRuns = 16384;
  static constexpr size_t kRunAheadPages = 32;

  // Throws std::runtime_error when the pages cannot be protected; nothing is then.
  explicit SignalProtection(CapturedPages& pages, size_t maxWritableRuns = kMaxWritableRuns);
  // Takes over the protection armed ahead of the pause (SignalArming, which no longer
  // owns faults): protects what `armed` does not cover and the blocks written since the
  // arming, and lifts the protection of armed memory outside `pages`. Throws
  // std::runtime_error when it cannot; nothing is protected then, armed memory included.
  SignalProtection(CapturedPages& pages, ArmedProtection::Handover armed, size_t maxWritableRuns = kMaxWritableRuns);
  ~SignalProtection() override;
  const char* name() const override { return "mprotect"; }
  void written(size_t first, size_t count) override;
  void finish() override;
  int64_t armMicros() const override { return armMicros_; }
  size_t pagesProtectedInPause() const override { return pagesProtectedInPause_; }
  bool writerAwaited() const override { return writesWaiting_.load(std::memory_order_relaxed) != 0; }
  size_t writesWaited() const override { return writesWaited_.load(std::memory_order_relaxed); }

 private:
  struct Unprotected {};
  // Registered as the fault owner, nothing protected yet.
  SignalProtection(CapturedPages& pages, size_t maxWritableRuns, Unprotected);
  bool handleWriteFault(uintptr_t address) override;
  size_t runEnd(size_t range, size_t page);
  bool writableAlone(size_t page) const {
    return std::atomic_ref<uint8_t>(madeWritableAlone_.data()[page]).load(std::memory_order_relaxed);
  }
  struct Neighbours {
    bool below;  // the page just below is writable alone
    bool above;  // the page just above
  };
  Neighbours neighboursOf(size_t range, size_t first, size_t end) const;
  void markWritableAlone(size_t range, size_t first, size_t end);
  void waitForWriter(size_t page, size_t range);

  CapturedPages& pages_;
  const size_t maxWritableRuns_;
  // Per range: the pages below this number are written and writable again.
  std::unique_ptr<std::atomic<size_t>[]> writableBelow_;
  // Per page: 1 once the fault path made it writable alone (ahead of the writer's batches);
  // accessed through std::atomic_ref.
  ZeroMappedBytes madeWritableAlone_;
  // How many runs of pages are writable alone now: each may cost two mappings. Signed: a
  // run a fault marks as the writer passes it may be counted off before it is counted.
  std::atomic<int64_t> writableRuns_{0};
  std::atomic<size_t> writesWaited_{0};  // writes that waited for the writer
  std::atomic<int> writesWaiting_{0};    // writes waiting for it now
  DenseSweep sweep_;
  std::atomic<bool> finished_{false};
  std::atomic<int> handlersRunning_{0};  // fault handlers inside handleWriteFault now
  bool registered_ = false;
  int64_t armMicros_ = 0;
  size_t pagesProtectedInPause_ = 0;
};

}  // namespace image
