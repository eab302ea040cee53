// Userfaultfd: see Userfaultfd.h.
#include "image/Userfaultfd.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

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

constexpr uint64_t kWantedFeatures = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_UNPOPULATED;

}  // namespace

Userfaultfd::Userfaultfd() {
  // The handshake fixes the features once per descriptor: ask what the kernel offers on a
  // throwaway descriptor first, so an old kernel is a clean fallback.
  int probe = openUserfaultfd();
  if (probe < 0) unavailable("userfaultfd");
  uffdio_api api = {};
  api.api = UFFD_API;
  bool ok = ioctl(probe, UFFDIO_API, &api) == 0;
  close(probe);
  if (!ok) unavailable("UFFDIO_API");
  if ((api.features & kWantedFeatures) != kWantedFeatures) {
    errno = ENOTSUP;
    unavailable("write-protect features");
  }
  fd_ = openUserfaultfd();
  if (fd_ < 0) unavailable("userfaultfd");
  api = {};
  api.api = UFFD_API;
  api.features = kWantedFeatures;
  if (ioctl(fd_, UFFDIO_API, &api) != 0) {
    int error = errno;
    close(fd_);
    errno = error;
    unavailable("UFFDIO_API");
  }
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stopFd_ < 0) {
    int error = errno;
    close(fd_);
    errno = error;
    unavailable("eventfd");
  }
}

Userfaultfd::~Userfaultfd() {
  for (const PageRange& r : registered_) {
    setProtection(r.start, r.end - r.start, false);
    uffdio_range range = {r.start, r.end - r.start};
    ioctl(fd_, UFFDIO_UNREGISTER, &range);
  }
  close(stopFd_);
  close(fd_);
}

void Userfaultfd::registerRange(PageRange r) {
  if (r.end <= r.start) return;
  uffdio_register reg = {};
  reg.range.start = r.start;
  reg.range.len = r.end - r.start;
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  if (ioctl(fd_, UFFDIO_REGISTER, &reg) != 0) unavailable("UFFDIO_REGISTER");
  registered_.push_back(r);  // unregistered by the destructor even if the check below fails
  if (!(reg.ioctls & (uint64_t(1) << _UFFDIO_WRITEPROTECT))) {
    errno = ENOTSUP;
    unavailable("UFFDIO_WRITEPROTECT on this memory");
  }
}

void Userfaultfd::protect(uintptr_t start, size_t bytes) {
  setProtection(start, bytes, true);
}

void Userfaultfd::unprotect(uintptr_t start, size_t bytes) {
  setProtection(start, bytes, false);
}

void Userfaultfd::setProtection(uintptr_t start, size_t bytes, bool protect) {
  if (bytes == 0) return;
  uffdio_writeprotect wp = {};
  wp.range.start = start;
  wp.range.len = bytes;
  wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0;  // lifting it also wakes the waiting writers
  while (ioctl(fd_, UFFDIO_WRITEPROTECT, &wp) != 0) {
    if (errno != EAGAIN && errno != EINTR) {
      if (protect) unavailable("UFFDIO_WRITEPROTECT");
      return;
    }
  }
}

void Userfaultfd::serve(const std::function<void(uintptr_t page)>& onFault) {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {stopFd_, POLLIN, 0}};
  uffd_msg messages[64];
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) {
      uint64_t count;
      if (read(stopFd_, &count, sizeof count) != sizeof count) {
        // Nonblocking and readable: the read takes the counter; nothing else can fail.
      }
      return;
    }
    ssize_t n = read(fd_, messages, sizeof messages);
    if (n < 0) continue;  // EAGAIN: another wakeup took them; EINTR
    for (size_t i = 0; i < size_t(n) / sizeof(uffd_msg); i++) {
      const uffd_msg& m = messages[i];
      if (m.event != UFFD_EVENT_PAGEFAULT) continue;
      onFault(uintptr_t(m.arg.pagefault.address) & ~uintptr_t(PageWriter::kPageSize - 1));
    }
  }
}

void Userfaultfd::stop() {
  uint64_t one = 1;
  if (write(stopFd_, &one, sizeof one) != sizeof one) {
    // An eventfd write fails only on counter overflow; serve() returns anyway.
  }
}

}  // namespace image
