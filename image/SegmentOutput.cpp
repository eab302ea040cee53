// SegmentOutput: see SegmentOutput.h.
#include "image/SegmentOutput.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace image {

std::string ioFailure(const char* what, const std::string& path, int error) {
  return std::string("cannot ") + what + " " + path + ": " + std::strerror(error) + " (errno " + std::to_string(error) +
         ")";
}

SegmentOutput::SegmentOutput(const std::string& directory, std::string name, size_t bytes, HashThread& hasher,
                             WriteThread* io, FileWrites writes)
    : path_(directory + "/" + name), name_(std::move(name)), hasher_(hasher), io_(io) {
  fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("create", errno);
  struct stat st {};
  if (fstat(fd_, &st) != 0) fail("inspect", errno);
  fresh_ = st.st_size == 0;
  if (ftruncate(fd_, off_t(bytes)) != 0) fail("resize", errno);
  // Without O_DIRECT (tmpfs, some network file systems) the writes go through the cache.
  if (writes == FileWrites::Direct) direct_ = fcntl(fd_, F_SETFL, O_DIRECT) == 0;
}

SegmentOutput::~SegmentOutput() {
  if (io_) io_->waitFor(lastWrite_);  // fd_ is in use until then
  hasher_.waitFor(lastTicket_);       // sha_ is in use until then
  if (fd_ >= 0) close(fd_);
}

void SegmentOutput::fail(const char* what, int error) const {
  throw std::runtime_error(ioFailure(what, path_, error));
}

SegmentOutput::Tickets SegmentOutput::append(const void* data, size_t n, const bool* zeroPages) {
  constexpr size_t kPage = PageWriter::kPageSize;
  if (io_) io_->check();  // a failed write stops the writer at its next batch
  const uint8_t* p = static_cast<const uint8_t*>(data);
  if (!zeroPages || !fresh_) {
    writeAt(p, n, bytes_);
  } else {
    // Runs of pages to write alternate with runs of zero pages left as holes.
    for (size_t at = 0; at < n;) {
      bool zero = zeroPages[at / kPage];
      size_t end = at;
      while (end < n && zeroPages[end / kPage] == zero) end += kPage;
      if (zero) {
        holeBytes_ += end - at;
      } else {
        writeAt(p + at, end - at, bytes_ + at);
      }
      at = end;
    }
  }
  bytes_ += n;
  if (bytes_ - writebackStarted_ >= kWritebackBytes) startWriteback();
  lastTicket_ = hasher_.add(sha_, data, n);
  return Tickets{lastTicket_, lastWrite_};
}

void SegmentOutput::writeAt(const uint8_t* p, size_t n, size_t offset) {
  constexpr size_t kAlign = PageWriter::kPageSize;  // O_DIRECT's alignment (at most a page)
  if (direct_ && (uintptr_t(p) % kAlign || n % kAlign || offset % kAlign)) {
    // Writes queued before are aligned and may go either way; this one must be buffered.
    if (fcntl(fd_, F_SETFL, 0) != 0) fail("turn off O_DIRECT on", errno);
    direct_ = false;
  }
  if (io_) {
    lastWrite_ = io_->add(fd_, p, n, offset, path_);
    return;
  }
  while (n > 0) {
    ssize_t w = pwrite(fd_, p, n, off_t(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write", errno);
    }
    if (w == 0) fail("write", EIO);
    p += w;
    n -= size_t(w);
    offset += size_t(w);
  }
}

void SegmentOutput::startWriteback() {
  if (direct_ || bytes_ == writebackStarted_) return;  // direct writes leave nothing to write back
  // Only starts writeback; a failure here shows again at fsync.
  sync_file_range(fd_, off_t(writebackStarted_), off_t(bytes_ - writebackStarted_), SYNC_FILE_RANGE_WRITE);
  writebackStarted_ = bytes_;
}

SegmentFile SegmentOutput::finish(uintptr_t start) {
  if (io_) {
    io_->waitFor(lastWrite_);
    io_->check();
  }
  if (fsync(fd_) != 0) fail("sync", errno);
  hasher_.waitFor(lastTicket_);
  int fd = fd_;
  fd_ = -1;
  if (close(fd) != 0) fail("close", errno);
  return SegmentFile{name_, start, bytes_, Sha256::hex(sha_.finish())};
}

}  // namespace image
