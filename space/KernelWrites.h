// KernelWrites: system calls that write into heap memory on the program's behalf
// (read(2) or recv(2) into a buffer object) while a snapshot may be write-protecting heap
// pages. A snapshot (image::PageWriter) takes the program's first write to each page as a
// fault and saves the page first, but the kernel does not take that fault for us: under
// userfaultfd in user-mode-only mode, or under mprotect, the system call fails with
// EFAULT instead. So such a call first touches each page from user mode, which takes the
// fault there, and the kernel then finds the pages writable.
#pragma once

#include <atomic>
#include <cstddef>

namespace space {

// How many captures are write-protecting memory now: snapshots, and checkpoints whose
// pages are still being made writable again in the background (WriteTracker). Zero means
// no page is protected, and beforeKernelWrite has nothing to do. Raised before protection
// starts (or before a program may run beside it) and lowered once every page is writable.
extern std::atomic<int> capturesActive;

// The slow path of beforeKernelWrite: writes each page's first byte with itself.
void touchPagesForKernelWrite(void* p, size_t n);

// Call before a system call writes into [p, p + n): makes every page of it writable from
// user mode while a capture is active. One relaxed atomic load when none is.
inline void beforeKernelWrite(void* p, size_t n) {
  if (capturesActive.load(std::memory_order_relaxed) != 0 && n != 0) touchPagesForKernelWrite(p, n);
}

}  // namespace space
