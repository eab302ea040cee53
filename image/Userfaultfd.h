// Userfaultfd: one userfaultfd descriptor in write-protect mode and the ranges registered
// with it — what UffdProtection (protection made in a capture's pause) and
// ArmedProtection (protection made ahead of the pause) share. Protection is per page
// table entry, so unlike mprotect it never splits mappings.
//
// A write to a protected page raises SIGBUS in the writing thread (UFFD_FEATURE_SIGBUS),
// taken by the process-wide handler of space/WriteFaults.h, which asks this descriptor:
// its WriteFaultHandler lifts the protection of the page (or more) on the faulting thread
// itself, and the write is retried. Served by a thread of its own instead, as before, a
// fault cost the writing thread a wakeup of that thread and one of its own: 59-63 us a
// fault on an idle machine against 18-19 us in the faulting thread, and a busy hub's
// faults waited 370 us on average (docs/PERFORMANCE.md).
//
// The kernel must offer UFFD_FEATURE_WP_UNPOPULATED, so that pages never touched are
// protected too (their first write must not slip by as a plain page-in). Faults the
// kernel takes itself (read(2) into a protected page) fail with EFAULT instead of
// raising the signal, hence space::beforeKernelWrite.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "image/PageWriter.h"
#include "space/WriteFaults.h"

namespace image {

// What a descriptor's faults are handed to. Runs in a signal handler on the faulting
// thread, possibly on several threads at once: only memory copies, atomics and
// async-signal-safe system calls.
class WriteFaultHandler {
 public:
  // The program wrote to `page` (page-aligned), in a range registered with `descriptor`
  // and protected: lift the protection of the page (or more) once its contents are safe.
  virtual void onWriteFault(uintptr_t page) = 0;

 protected:
  ~WriteFaultHandler() = default;
};

class Userfaultfd final : private space::WriteFaultOwner {
 public:
  // Opens the descriptor, agrees on the write-protect features and takes its faults from
  // the process-wide handler. Throws std::runtime_error when the kernel does not offer
  // them (nothing is open then).
  Userfaultfd();
  ~Userfaultfd();  // close()s
  // Lifts the protection of every registered range, stops taking faults (waiting for the
  // handlers running on other threads, which may still use this object meanwhile),
  // unregisters the ranges and closes the descriptor. Its owner calls it before dropping
  // the object: a handler reaches the object through its owner. Once only; nothing else
  // may be called afterwards.
  void close();
  Userfaultfd(const Userfaultfd&) = delete;
  Userfaultfd& operator=(const Userfaultfd&) = delete;

  // Registers [start, end) in write-protect mode (not yet protected). Throws
  // std::runtime_error when the kernel refuses. Not while a write to a protected page of
  // this descriptor may fault (the program's thread registers, in a pause or before
  // protecting).
  void registerRange(PageRange range);
  const std::vector<PageRange>& registered() const { return registered_; }
  // Protects [start, start + bytes), which lies in registered ranges. Throws
  // std::runtime_error when it cannot.
  void protect(uintptr_t start, size_t bytes);
  // Lifts the protection of [start, start + bytes). Never fails: lifting fails only once
  // the range is gone (unmapped by its owner). Signal safe.
  void unprotect(uintptr_t start, size_t bytes);

  // Hands the faults in registered ranges to `handler` from now on. nullptr: a write
  // there waits (retried in the signal handler) until one is set; for a handover in a
  // pause, when no thread of the program writes.
  void setHandler(WriteFaultHandler* handler) { handler_.store(handler, std::memory_order_release); }

 private:
  bool handleWriteFault(uintptr_t address) override;
  void setProtection(uintptr_t start, size_t bytes, bool protect);

  int fd_ = -1;
  std::vector<PageRange> registered_;
  // What the signal handler reads: the registered ranges as of the last registration. Each
  // version is kept until the descriptor closes (a handler may still read an older one).
  std::vector<std::unique_ptr<const std::vector<PageRange>>> rangeVersions_;
  std::atomic<const std::vector<PageRange>*> ranges_{nullptr};
  std::atomic<WriteFaultHandler*> handler_{nullptr};
  std::atomic<int> handlersRunning_{0};  // signal handlers inside handleWriteFault now
  bool taking_ = false;                  // registered with space/WriteFaults.h
};

}  // namespace image
