// Userfaultfd: see Userfaultfd.h.
#include "image/Userfaultfd.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
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

constexpr uint64_t kWantedFeatures = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_SIGBUS;

}  // namespace

Userfaultfd::Userfaultfd() {
  // The handshake fixes the features once per descriptor: ask what the kernel offers on a
  // throwaway descriptor first, so an old kernel is a clean fallback.
  int probe = openUserfaultfd();
  if (probe < 0) unavailable("userfaultfd");
  uffdio_api api = {};
  api.api = UFFD_API;
  bool ok = ioctl(probe, UFFDIO_API, &api) == 0;
  ::close(probe);
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
    ::close(fd_);
    errno = error;
    unavailable("UFFDIO_API");
  }
  try {
    space::addWriteFaultOwner(this);
  } catch (...) {
    ::close(fd_);
    throw;
  }
  taking_ = true;
}

Userfaultfd::~Userfaultfd() {
  close();
}

void Userfaultfd::close() {
  if (fd_ < 0) return;
  // Lifted first: a write from now on does not fault, and one that faulted before is
  // retried and succeeds, whether or not its handler still finds this descriptor.
  for (const PageRange& r : registered_) setProtection(r.start, r.end - r.start, false);
  if (taking_) space::removeWriteFaultOwner(this);
  timespec nap = {0, 20000};
  while (handlersRunning_.load(std::memory_order_acquire) != 0) nanosleep(&nap, nullptr);
  for (const PageRange& r : registered_) {
    uffdio_range range = {r.start, r.end - r.start};
    ioctl(fd_, UFFDIO_UNREGISTER, &range);
  }
  ::close(fd_);
  fd_ = -1;
}

bool Userfaultfd::handleWriteFault(uintptr_t address) {
  handlersRunning_.fetch_add(1, std::memory_order_acquire);
  const std::vector<PageRange>* ranges = ranges_.load(std::memory_order_acquire);
  bool ours = ranges && std::any_of(ranges->begin(), ranges->end(),
                                    [address](const PageRange& r) { return r.start <= address && address < r.end; });
  if (ours) {
    // No handler (a handover in a pause): the write is retried until there is one.
    if (WriteFaultHandler* handler = handler_.load(std::memory_order_acquire)) {
      handler->onWriteFault(address & ~uintptr_t(PageWriter::kPageSize - 1));
    }
  }
  handlersRunning_.fetch_sub(1, std::memory_order_release);
  return ours;
}

void Userfaultfd::registerRange(PageRange r) {
  if (r.end <= r.start) return;
  uffdio_register reg = {};
  reg.range.start = r.start;
  reg.range.len = r.end - r.start;
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  if (ioctl(fd_, UFFDIO_REGISTER, &reg) != 0) unavailable("UFFDIO_REGISTER");
  registered_.push_back(r);  // unregistered by the destructor even if the check below fails
  rangeVersions_.push_back(std::make_unique<const std::vector<PageRange>>(registered_));
  ranges_.store(rangeVersions_.back().get(), std::memory_order_release);
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
  wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
  while (ioctl(fd_, UFFDIO_WRITEPROTECT, &wp) != 0) {
    if (errno != EAGAIN && errno != EINTR) {
      if (protect) unavailable("UFFDIO_WRITEPROTECT");
      return;
    }
  }
}

}  // namespace image
