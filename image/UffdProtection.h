// UffdProtection: write-protection by userfaultfd. Each range is registered in
// write-protect mode and protected; a write to a protected page blocks the writing thread
// in the kernel and queues a message, which a service thread answers: preserve the page,
// then lift the protection of that page, which wakes the thread. Protection is per page
// table entry, so unlike mprotect it never splits mappings however scattered the writes.
// The kernel must offer UFFD_FEATURE_WP_UNPOPULATED, so that pages never touched are
// protected too (their first write must not slip by as a plain page-in).
//
// Writes after a capture come in runs (a scavenge promoting into old space fills free
// memory page after page), and every fault holds the writing thread until the service
// thread has run. So the second fault in a block of kBlockPages pages preserves the whole
// block and lifts its protection at once: runs cost two faults per block.
//
// The descriptor is opened user-mode-only where the kernel requires that of unprivileged
// processes: faults the kernel takes itself (read(2) into a protected page) then fail with
// EFAULT instead of waiting, hence space::beforeKernelWrite.
#pragma once

#include <thread>
#include <vector>

#include "image/WriteProtection.h"

namespace image {

class UffdProtection : public WriteProtection {
 public:
  // Throws std::runtime_error when userfaultfd write-protection is unavailable; nothing is
  // protected then.
  explicit UffdProtection(CapturedPages& pages);
  ~UffdProtection() override;
  const char* name() const override { return "userfaultfd"; }
  void written(size_t first, size_t count) override;
  void finish() override;

 private:
  void setProtection(uintptr_t start, size_t bytes, bool protect);
  void serveFaults();
  void undo();

  CapturedPages& pages_;
  int uffd_ = -1;
  int stopFd_ = -1;        // an eventfd: readable once the service thread should end
  size_t registered_ = 0;  // ranges registered so far (undone in reverse on failure)
  std::thread service_;
  static constexpr size_t kBlockPages = 32;
  std::vector<uint8_t> blockFaulted_;  // per block of kBlockPages pages: 1 once it faulted (service thread only)
  bool finished_ = false;
};

}  // namespace image
