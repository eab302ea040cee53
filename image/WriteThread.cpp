// WriteThread: see WriteThread.h.
#include "image/WriteThread.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "image/BackgroundPriority.h"

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
    : thread_([this] {
        lowerThreadPriority();
        run();
      }) {}

WriteThread::~WriteThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

uint64_t WriteThread::add(int fd, const void* data, size_t n, size_t offset, const std::string& path) {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(Job{fd, data, n, offset, &path});
    ticket = ++queued_;
  }
  changed_.notify_all();
  return ticket;
}

void WriteThread::waitFor(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return written_ >= ticket; });
}

void WriteThread::waitForAll() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return written_ >= queued_; });
}

void WriteThread::check() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!failure_.empty()) throw std::runtime_error(failure_);
}

void WriteThread::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing is left
    Job job = jobs_.front();
    bool skip = !failure_.empty();
    lock.unlock();
    int error = skip ? 0 : writeFully(job.fd, static_cast<const uint8_t*>(job.data), job.n, job.offset);
    lock.lock();
    if (error && failure_.empty()) failure_ = ioFailure("write", *job.path, error);
    jobs_.pop_front();
    written_++;
    changed_.notify_all();
  }
}

}  // namespace image
