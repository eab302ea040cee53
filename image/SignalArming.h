// SignalArming: an ArmedProtection by mprotect(PROT_READ), where userfaultfd is
// unavailable (a container's seccomp profile, an old kernel). A write to an armed page
// before the capture faults with SIGSEGV on the writing thread; the process-wide handler
// of space/WriteFaults.h asks us, we mark the page's block written and make the block
// writable, and the write is retried. Taken over in the pause by SignalProtection.
//
// Each block made writable splits a mapping (adjacent ones merge again), and the kernel
// caps mappings per process (vm.max_map_count, 65530 by default): past kMaxWrittenBlocks
// faults, or when the kernel refuses a split, a write makes its whole range writable and
// marks all of it written, which the pause then protects in full, as if not armed.
#pragma once

#include <atomic>

#include "image/ArmedProtection.h"
#include "space/WriteFaults.h"

namespace image {

class SignalArming final : public ArmedProtection, private space::WriteFaultOwner {
 public:
  static constexpr size_t kMaxWrittenBlocks = 8192;

  // Starts protecting `ranges` (ArmedProtection.h). Throws std::runtime_error when the
  // fault handler cannot be installed (nothing is protected then).
  explicit SignalArming(std::vector<PageRange> ranges, PageRange populate = {},
                        size_t maxWrittenBlocks = kMaxWrittenBlocks);
  // Not handed over: stops and lifts every protection.
  ~SignalArming() override;
  const char* name() const override { return "mprotect"; }
  std::unique_ptr<WriteProtection> capture(CapturedPages& pages) override;

 private:
  void protect(uintptr_t start, size_t bytes) override;
  bool handleWriteFault(uintptr_t address) override;
  // Stops asking us about faults; waits for handlers still running on other threads.
  void stopFaults();
  void unprotectAll();

  const size_t maxWrittenBlocks_;
  std::atomic<size_t> faults_{0};        // blocks made writable (a block two threads fault on counts twice)
  std::atomic<int> handlersRunning_{0};  // fault handlers inside handleWriteFault now
  bool registered_ = false;
};

}  // namespace image
