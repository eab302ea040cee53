// SegmentOutput: see SegmentOutput.h.
#include "image/SegmentOutput.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace image {

std::string ioFailure(const char* what, const std::string& path, int error) {
  return std::string("cannot ") + what + " " + path + ": " + std::strerror(error) + " (errno " + std::to_string(error) +
         ")";
}

SegmentOutput::SegmentOutput(const std::string& directory, std::string name, size_t bytes, HashThread& hasher)
    : path_(directory + "/" + name), name_(std::move(name)), hasher_(hasher) {
  fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("create", errno);
  if (ftruncate(fd_, off_t(bytes)) != 0) fail("resize", errno);
}

SegmentOutput::~SegmentOutput() {
  hasher_.waitFor(lastTicket_);  // sha_ is in use until then
  if (fd_ >= 0) close(fd_);
}

void SegmentOutput::fail(const char* what, int error) const {
  throw std::runtime_error(ioFailure(what, path_, error));
}

uint64_t SegmentOutput::append(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  size_t left = n;
  while (left > 0) {
    ssize_t w = write(fd_, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write", errno);
    }
    if (w == 0) fail("write", EIO);
    p += w;
    left -= size_t(w);
  }
  bytes_ += n;
  if (bytes_ - writebackStarted_ >= kWritebackBytes) startWriteback();
  lastTicket_ = hasher_.add(sha_, data, n);
  return lastTicket_;
}

void SegmentOutput::startWriteback() {
  if (bytes_ == writebackStarted_) return;
  // Only starts writeback; a failure here shows again at fsync.
  sync_file_range(fd_, off_t(writebackStarted_), off_t(bytes_ - writebackStarted_), SYNC_FILE_RANGE_WRITE);
  writebackStarted_ = bytes_;
}

SegmentFile SegmentOutput::finish(uintptr_t start) {
  if (fsync(fd_) != 0) fail("sync", errno);
  hasher_.waitFor(lastTicket_);
  int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) fail("close", errno);
  return SegmentFile{name_, start, bytes_, Sha256::hex(sha_.finish())};
}

}  // namespace image
