// SignalProtection: write-protection by mprotect(PROT_READ); a write faults with SIGSEGV,
// and the process-wide handler of space/WriteFaults.h asks us: preserve the page, make it
// writable, retry the write. The fallback when userfaultfd is unavailable. Made in the
// pause, protecting every page is most of the pause (about 110-150 ns a page); armed
// ahead of it (SignalArming.h), the pause protects only what was written since.
//
// Each page made writable alone splits a mapping, and the kernel caps mappings per process
// (vm.max_map_count, 65530 by default). So the writer lifts protection over whole batches
// as it goes, which merges them back, and once kMaxScatteredPages pages ahead of the
// writer have been made writable alone (or the kernel refuses another split), a faulting
// thread instead waits until the writer has written its page.
#pragma once

#include <atomic>
#include <memory>

#include "image/ArmedProtection.h"
#include "image/WriteProtection.h"
#include "image/ZeroMappedBytes.h"
#include "space/WriteFaults.h"

namespace image {

class SignalProtection final : public WriteProtection, private space::WriteFaultOwner {
 public:
  static constexpr size_t kMaxScatteredPages = 16384;

  // Throws std::runtime_error when the pages cannot be protected; nothing is then.
  explicit SignalProtection(CapturedPages& pages, size_t maxScatteredPages = kMaxScatteredPages);
  // Takes over the protection armed ahead of the pause (SignalArming, which no longer
  // owns faults): protects what `armed` does not cover and the blocks written since the
  // arming, and lifts the protection of armed memory outside `pages`. Throws
  // std::runtime_error when it cannot; nothing is protected then, armed memory included.
  SignalProtection(CapturedPages& pages, ArmedProtection::Handover armed,
                   size_t maxScatteredPages = kMaxScatteredPages);
  ~SignalProtection() override;
  const char* name() const override { return "mprotect"; }
  void written(size_t first, size_t count) override;
  void finish() override;
  int64_t armMicros() const override { return armMicros_; }
  size_t pagesProtectedInPause() const override { return pagesProtectedInPause_; }

 private:
  struct Unprotected {};
  // Registered as the fault owner, nothing protected yet.
  SignalProtection(CapturedPages& pages, size_t maxScatteredPages, Unprotected);
  bool handleWriteFault(uintptr_t address) override;
  void waitForWriter(size_t page, size_t range);

  CapturedPages& pages_;
  const size_t maxScatteredPages_;
  // Per range: the pages below this number are written and writable again.
  std::unique_ptr<std::atomic<size_t>[]> writableBelow_;
  // Per page: 1 once the fault path made it writable alone (ahead of the writer's batches);
  // accessed through std::atomic_ref.
  ZeroMappedBytes madeWritableAlone_;
  // How many pages are writable alone now: each may cost a mapping.
  std::atomic<size_t> scattered_{0};
  std::atomic<bool> finished_{false};
  std::atomic<int> handlersRunning_{0};  // fault handlers inside handleWriteFault now
  bool registered_ = false;
  int64_t armMicros_ = 0;
  size_t pagesProtectedInPause_ = 0;
};

}  // namespace image
