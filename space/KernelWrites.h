// KernelWrites: system calls that write into heap memory on the program's behalf
// (read(2) or recv(2) into a buffer object) while a snapshot may be write-protecting heap
// pages. A snapshot (image::PageWriter) takes the program's first write to each page as a
// fault and saves the page first, but the kernel does not take that fault for us: under
// userfaultfd in user-mode-only mode, or under mprotect, the system call fails with
// EFAULT instead. So such a call first touches each page from user mode, which takes the
// fault there, and the kernel then finds the pages writable. A resumed image's segments
// not yet checked (image/FirstTouchVerification.h) are not even readable: system calls
// that read heap memory (send(2) from a buffer object) touch their pages first as well.
#pragma once

#include <atomic>
#include <cstddef>

#include <sys/types.h>

namespace space {

// How many captures are protecting memory now: snapshots, checkpoints whose pages are
// still being made writable again in the background (WriteTracker), and resumed images
// whose segments are still being checked. Zero means no page is protected, and
// beforeKernelWrite and beforeKernelRead have nothing to do. Raised before protection
// starts (or before a program may run beside it) and lowered once every page is writable.
extern std::atomic<int> capturesActive;

// The slow path of beforeKernelWrite: writes each page's first byte with itself.
void touchPagesForKernelWrite(void* p, size_t n);

// Call before a system call writes into [p, p + n): makes every page of it writable from
// user mode while a capture is active. One relaxed atomic load when none is.
inline void beforeKernelWrite(void* p, size_t n) {
  if (capturesActive.load(std::memory_order_relaxed) != 0 && n != 0) touchPagesForKernelWrite(p, n);
}

// The slow path of beforeKernelRead: reads each page's first byte.
void touchPagesForKernelRead(const void* p, size_t n);

// Call before a system call reads from [p, p + n): makes every page of it readable from
// user mode while a capture is active. One relaxed atomic load when none is.
inline void beforeKernelRead(const void* p, size_t n) {
  if (capturesActive.load(std::memory_order_relaxed) != 0 && n != 0) touchPagesForKernelRead(p, n);
}

// read(2) of at most `n` bytes into heap memory at `data`. While a capture is active, each
// page the kernel may write must be touched first, and touching a whole 16 KiB buffer for
// a request of a few hundred bytes would cost four pages' faults and copies instead of
// one: the read then goes a page at a time, touching each page just before reading into
// it, and stops at the first read that does not fill its page. It answers as one read(2)
// would: fewer bytes than `n` only when the descriptor had no more at that moment (a
// socket's reader takes that as drained), an error or end of stream only when nothing was
// read before it. A page protected between its touch and the read (a capture arming in
// the background) fails that read with EFAULT and nothing consumed: it is touched and read
// again, so the caller never sees an EFAULT a capture caused.
ssize_t readIntoHeap(int fd, void* data, size_t n);

}  // namespace space
