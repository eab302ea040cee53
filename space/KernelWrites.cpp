// KernelWrites: see KernelWrites.h.
#include "space/KernelWrites.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "space/Reservation.h"

namespace space {

namespace {
constexpr uintptr_t kPage = Reservation::kPageSize;
}  // namespace

std::atomic<int> capturesActive{0};

void touchPagesForKernelWrite(void* p, size_t n) {
  uintptr_t first = reinterpret_cast<uintptr_t>(p);
  uintptr_t last = first + n - 1;
  for (uintptr_t a = first; a <= last; a = (a & ~(kPage - 1)) + kPage) {
    // A compare-and-swap of a byte with its own value is a write the program may race with
    // harmlessly: another thread's store to that byte is neither lost nor invented. (A plain
    // store could undo a concurrent store; an atomic add of 0 may be compiled to a load.)
    std::atomic_ref<uint8_t> byte(*reinterpret_cast<uint8_t*>(a));
    uint8_t value = byte.load(std::memory_order_relaxed);
    while (!byte.compare_exchange_weak(value, value, std::memory_order_relaxed)) {
    }
    if (a > UINTPTR_MAX - kPage) break;
  }
}

void touchPagesForKernelRead(const void* p, size_t n) {
  uintptr_t first = reinterpret_cast<uintptr_t>(p);
  uintptr_t last = first + n - 1;
  for (uintptr_t a = first; a <= last; a = (a & ~(kPage - 1)) + kPage) {
    // Atomic, so that a program thread writing the byte meanwhile is no data race.
    (void)__atomic_load_n(reinterpret_cast<const uint8_t*>(a), __ATOMIC_RELAXED);
    if (a > UINTPTR_MAX - kPage) break;
  }
}

namespace {

// How often a read retries a page that was protected again between its touch and the
// read: once per capture that starts in that window, so a few at most.
constexpr int kProtectedAgainRetries = 64;

// read(2) of `want` bytes into one page, touched first. A capture arming in the background
// (WriteTracker, ArmedProtection) may protect the page between the touch and the read: the
// read then fails with EFAULT having consumed nothing (sockets and pipes keep the data when
// the copy out fails), and is made again.
ssize_t readTouched(int fd, uint8_t* at, size_t want) {
  for (int attempt = 0;; attempt++) {
    touchPagesForKernelWrite(at, want);
    ssize_t r = read(fd, at, want);
    if (r >= 0 || errno != EFAULT || attempt == kProtectedAgainRetries) return r;
  }
}

}  // namespace

ssize_t readIntoHeap(int fd, void* data, size_t n) {
  if (capturesActive.load(std::memory_order_relaxed) == 0) {
    ssize_t r = read(fd, data, n);
    // EFAULT here means a capture began protecting after the load above: read as under one.
    if (r >= 0 || errno != EFAULT) return r;
  }
  uint8_t* bytes = static_cast<uint8_t*>(data);
  size_t total = 0;
  while (total < n) {
    uintptr_t at = reinterpret_cast<uintptr_t>(bytes + total);
    size_t want = std::min(n - total, size_t((at & ~(kPage - 1)) + kPage - at));
    ssize_t r = readTouched(fd, bytes + total, want);
    if (r < 0) return total > 0 ? ssize_t(total) : r;
    total += size_t(r);
    if (size_t(r) < want) break;  // no more for now, or at its end
  }
  return ssize_t(total);
}

}  // namespace space
