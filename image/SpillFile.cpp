// SpillFile: see SpillFile.h.
#include "image/SpillFile.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "image/SegmentOutput.h"

namespace image {

namespace {

// A file with no name in `directory`, O_DIRECT if it can be; -1 with errno set otherwise.
int openUnnamed(const std::string& directory, bool& direct) {
  for (int flags : {O_DIRECT, 0}) {
    int fd = open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC | flags, 0600);
    if (fd >= 0) {
      direct = flags != 0;
      return fd;
    }
  }
  // No O_TMPFILE here: a name, unlinked at once.
  std::string path = directory + "/.spill-XXXXXX";
  int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return -1;
  unlink(path.c_str());
  direct = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) == 0;
  return fd;
}

}  // namespace

SpillFile::SpillFile(const std::string& directory) : directory_(directory) {
  fd_ = openUnnamed(directory, direct_);
  if (fd_ < 0) fail("create a spill file in", errno);
}

SpillFile::~SpillFile() {
  if (fd_ >= 0) close(fd_);
}

void SpillFile::fail(const char* what, int error) const {
  throw std::runtime_error(ioFailure(what, directory_, error));
}

size_t SpillFile::append(const uint8_t* const* pages, size_t count) {
  size_t first = slots_;
  iovec iov[IOV_MAX];
  for (size_t done = 0; done < count;) {
    size_t n = std::min<size_t>(count - done, IOV_MAX);
    for (size_t i = 0; i < n; i++) iov[i] = iovec{const_cast<uint8_t*>(pages[done + i]), kPageSize};
    // pwritev writes whole pages at page offsets: a short write is a full disk or worse.
    ssize_t w = pwritev(fd_, iov, int(n), off_t((first + done) * kPageSize));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail("write a spill file in", errno);
    if (size_t(w) != n * kPageSize) fail("write a spill file in", ENOSPC);
    done += n;
  }
  slots_ += count;
  return first;
}

void SpillFile::read(size_t slot, uint8_t* out) {
  for (;;) {
    ssize_t r = pread(fd_, out, kPageSize, off_t(slot * kPageSize));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail("read a spill file in", errno);
    if (size_t(r) != kPageSize) fail("read a spill file in", EIO);
    return;
  }
}

}  // namespace image
