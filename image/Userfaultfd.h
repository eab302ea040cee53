// Userfaultfd: one userfaultfd descriptor in write-protect mode and the ranges registered
// with it — what UffdProtection (protection made in a capture's pause) and
// ArmedProtection (protection made ahead of the pause) share. A write to a protected
// page blocks the writing thread in the kernel and queues a message; serve() hands each
// to its caller, which lifts the protection of the page (or more), waking the thread.
// Protection is per page table entry, so unlike mprotect it never splits mappings.
//
// The kernel must offer UFFD_FEATURE_WP_UNPOPULATED, so that pages never touched are
// protected too (their first write must not slip by as a plain page-in). The descriptor
// is opened user-mode-only where the kernel requires that of unprivileged processes:
// faults the kernel takes itself (read(2) into a protected page) then fail with EFAULT
// instead of waiting, hence space::beforeKernelWrite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "image/PageWriter.h"

namespace image {

class Userfaultfd {
 public:
  // Opens the descriptor and agrees on the write-protect features. Throws
  // std::runtime_error when the kernel does not offer them (nothing is open then).
  Userfaultfd();
  // Lifts the protection of every registered range (waking any waiting writer),
  // unregisters them and closes the descriptor.
  ~Userfaultfd();
  Userfaultfd(const Userfaultfd&) = delete;
  Userfaultfd& operator=(const Userfaultfd&) = delete;

  // Registers [start, end) in write-protect mode (not yet protected). Throws
  // std::runtime_error when the kernel refuses.
  void registerRange(PageRange range);
  const std::vector<PageRange>& registered() const { return registered_; }
  // Protects [start, start + bytes), which lies in registered ranges. Throws
  // std::runtime_error when it cannot.
  void protect(uintptr_t start, size_t bytes);
  // Lifts the protection of [start, start + bytes) and wakes the writers waiting there.
  // Never fails: lifting fails only once the range is gone (unmapped by its owner).
  void unprotect(uintptr_t start, size_t bytes);

  // Waits for write faults and calls onFault with each faulting page's address until
  // stop() is called (from another thread). The thread that calls serve() is the
  // descriptor's service thread: onFault runs there. May be called again after it returned.
  void serve(const std::function<void(uintptr_t page)>& onFault);
  void stop();

 private:
  void setProtection(uintptr_t start, size_t bytes, bool protect);
  int fd_ = -1;
  int stopFd_ = -1;  // an eventfd: readable once serve() should return
  std::vector<PageRange> registered_;
};

}  // namespace image
