// UffdProtection: see UffdProtection.h.
#include "image/UffdProtection.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)  // Linux 6.4; older headers lack it
#endif

namespace image {

namespace {

[[noreturn]] void unavailable(const char* what) {
  throw std::runtime_error(std::string("userfaultfd write-protection unavailable: ") + what + ": " +
                           std::strerror(errno));
}

// A userfaultfd descriptor, user-mode-only unless the kernel does not know the flag.
int openUserfaultfd() {
  int fd = int(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (fd < 0 && errno == EINVAL) fd = int(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  return fd;
}

}  // namespace

UffdProtection::UffdProtection(CapturedPages& pages)
    : pages_(pages), blockFaulted_(pages.pageCount() / kBlockPages + 1, 0) {
  const uint64_t wanted = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_UNPOPULATED;
  // The handshake fixes the features once per descriptor: ask what the kernel offers on a
  // throwaway descriptor first, so an old kernel is a clean fallback.
  int probe = openUserfaultfd();
  if (probe < 0) unavailable("userfaultfd");
  uffdio_api api = {};
  api.api = UFFD_API;
  bool ok = ioctl(probe, UFFDIO_API, &api) == 0;
  close(probe);
  if (!ok) unavailable("UFFDIO_API");
  if ((api.features & wanted) != wanted) {
    errno = ENOTSUP;
    unavailable("write-protect features");
  }
  uffd_ = openUserfaultfd();
  if (uffd_ < 0) unavailable("userfaultfd");
  api = {};
  api.api = UFFD_API;
  api.features = wanted;
  if (ioctl(uffd_, UFFDIO_API, &api) != 0) {
    undo();
    unavailable("UFFDIO_API");
  }
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stopFd_ < 0) {
    undo();
    unavailable("eventfd");
  }
  for (const PageRange& r : pages_.ranges()) {
    if (r.end > r.start) {
      uffdio_register reg = {};
      reg.range.start = r.start;
      reg.range.len = r.end - r.start;
      reg.mode = UFFDIO_REGISTER_MODE_WP;
      if (ioctl(uffd_, UFFDIO_REGISTER, &reg) != 0 || !(reg.ioctls & (uint64_t(1) << _UFFDIO_WRITEPROTECT))) {
        int error = errno;
        undo();
        errno = error;
        unavailable("UFFDIO_REGISTER");
      }
    }
    registered_++;
  }
  for (const PageRange& r : pages_.ranges()) {
    try {
      setProtection(r.start, r.end - r.start, true);
    } catch (...) {
      undo();
      throw;
    }
  }
  service_ = std::thread([this] { serveFaults(); });
}

UffdProtection::~UffdProtection() {
  if (!finished_) finish();
}

void UffdProtection::setProtection(uintptr_t start, size_t bytes, bool protect) {
  if (bytes == 0) return;
  uffdio_writeprotect wp = {};
  wp.range.start = start;
  wp.range.len = bytes;
  wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0;  // lifting it also wakes the waiting writers
  while (ioctl(uffd_, UFFDIO_WRITEPROTECT, &wp) != 0) {
    if (errno != EAGAIN && errno != EINTR) {
      if (protect) unavailable("UFFDIO_WRITEPROTECT");
      return;  // lifting fails only once the range is gone (unmapped by its owner)
    }
  }
}

void UffdProtection::serveFaults() {
  pollfd fds[2] = {{uffd_, POLLIN, 0}, {stopFd_, POLLIN, 0}};
  uffd_msg messages[64];
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    ssize_t n = read(uffd_, messages, sizeof messages);
    if (n < 0) continue;  // EAGAIN: another wakeup took them; EINTR
    for (size_t i = 0; i < size_t(n) / sizeof(uffd_msg); i++) {
      const uffd_msg& m = messages[i];
      if (m.event != UFFD_EVENT_PAGEFAULT) continue;
      uintptr_t address = uintptr_t(m.arg.pagefault.address) & ~uintptr_t(CapturedPages::kPageSize - 1);
      size_t range = 0;
      size_t page = pages_.pageAt(address, &range);
      if (page == CapturedPages::kNone) {
        setProtection(address, CapturedPages::kPageSize, false);
        continue;
      }
      size_t block = page / kBlockPages;
      if (!blockFaulted_[block]) {  // the first write in this block: that page alone
        blockFaulted_[block] = 1;
        pages_.preserve(page);
        setProtection(address, CapturedPages::kPageSize, false);
        continue;
      }
      // A run of writes: the rest of the block (within the page's range) at once.
      size_t first = std::max(pages_.firstPage(range), block * kBlockPages);
      size_t end = std::min(pages_.firstPage(range) + pages_.pagesOf(range), (block + 1) * kBlockPages);
      for (size_t p = first; p < end; p++) pages_.preserve(p);
      setProtection(pages_.address(first), (end - first) * CapturedPages::kPageSize, false);
    }
  }
}

void UffdProtection::written(size_t first, size_t count) {
  setProtection(pages_.address(first), count * CapturedPages::kPageSize, false);
}

void UffdProtection::finish() {
  finished_ = true;
  uint64_t one = 1;
  if (write(stopFd_, &one, sizeof one) != sizeof one) {
    // An eventfd write fails only on counter overflow; the thread is ending anyway.
  }
  if (service_.joinable()) service_.join();
  undo();
}

// Lifts the protection (waking every thread still waiting on a page), unregisters what was
// registered and closes the descriptors.
void UffdProtection::undo() {
  for (size_t i = 0; i < registered_; i++) {
    const PageRange& r = pages_.ranges()[i];
    if (r.end == r.start) continue;
    setProtection(r.start, r.end - r.start, false);
    uffdio_range range = {r.start, r.end - r.start};
    ioctl(uffd_, UFFDIO_UNREGISTER, &range);
  }
  registered_ = 0;
  if (stopFd_ >= 0) close(stopFd_);
  if (uffd_ >= 0) close(uffd_);
  stopFd_ = uffd_ = -1;
}

}  // namespace image
