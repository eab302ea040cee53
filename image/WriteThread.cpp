// WriteThread: see WriteThread.h.
#include "image/WriteThread.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "image/SegmentOutput.h"

namespace image {

namespace {

// pwrite(2)s all of [p, p + n) at `offset`: 0, or the errno of the failure.
int writeFully(int fd, const uint8_t* p, size_t n, size_t offset) {
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, off_t(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      // O_DIRECT refused for this write (a device or file system wanting another
      // alignment): the rest of the file goes through the page cache.
      int flags = errno == EINVAL ? fcntl(fd, F_GETFL) : -1;
      if (flags >= 0 && (flags & O_DIRECT) && fcntl(fd, F_SETFL, flags & ~O_DIRECT) == 0) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= size_t(w);
    offset += size_t(w);
  }
  return 0;
}

}  // namespace

WriteThread::WriteThread()
    : jobs_("snap-write", [](const Job& job) {
        int error = writeFully(job.fd, static_cast<const uint8_t*>(job.data), job.n, job.offset);
        return error ? ioFailure("write", *job.path, error) : std::string();
      }) {}

}  // namespace image
