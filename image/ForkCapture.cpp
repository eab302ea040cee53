// ForkCapture: see ForkCapture.h.
#include "image/ForkCapture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <stdexcept>

#include "image/SegmentOutput.h"

namespace image {

namespace {

constexpr size_t kWriteBytes = 8 << 20;  // per write(2)
const char* const kSteps[] = {"create", "resize", "write", "sync", "close"};

int64_t monotonicNanos() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// Writes all of [p, p + n), retrying short writes. Async-signal-safe.
bool writeFully(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return false;
    }
    c += w;
    n -= size_t(w);
  }
  return true;
}

// The kB value of the line starting with `key` in `text`, or 0. Allocates nothing.
uint64_t kilobytesOf(const char* text, const char* key) {
  const char* line = std::strstr(text, key);
  if (!line) return 0;
  line += std::strlen(key);
  while (*line == ' ' || *line == '\t') line++;
  uint64_t v = 0;
  while (*line >= '0' && *line <= '9') v = v * 10 + uint64_t(*line++ - '0');
  return v;
}

// This process's private memory, from /proc/self/smaps_rollup. Allocates nothing.
uint64_t privateBytes() {
  int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[4096];
  size_t used = 0;
  for (ssize_t n; used < sizeof text - 1 && (n = read(fd, text + used, sizeof text - 1 - used)) > 0;) used += size_t(n);
  close(fd);
  text[used] = 0;
  return (kilobytesOf(text, "Private_Clean:") + kilobytesOf(text, "Private_Dirty:")) * 1024;
}

}  // namespace

ForkCapture::ForkCapture(const std::vector<PageRange>& ranges, const std::string& directory)
    : ranges_(ranges), directory_(directory) {
  for (size_t r = 0; r < ranges_.size(); r++) {
    paths_.push_back(directory_ + "/" + segmentFileName(r));
    hashes_.push_back(std::make_unique<Sha256>());
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot make a pipe: ") + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    int error = errno;
    close(fds[0]);
    close(fds[1]);
    throw std::runtime_error(std::string("cannot fork the writer: ") + std::strerror(error));
  }
  if (pid == 0) {
    close(fds[0]);
    runChild(fds[1]);
  }
  capturedNanos_ = monotonicNanos();
  child_ = pid;
  close(fds[1]);
  reportFd_ = fds[0];
  fcntl(reportFd_, F_SETFL, O_NONBLOCK);
}

void ForkCapture::runChild(int reportFd) {
  ChildReport report;
  for (size_t r = 0; r < ranges_.size() && report.error == 0; r++) {
    int step = 0;
    // Overwritten in place, as SegmentOutput does (its header says why).
    int fd = open(paths_[r].c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    const uint8_t* p = reinterpret_cast<const uint8_t*>(ranges_[r].start);
    size_t bytes = ranges_[r].end - ranges_[r].start;
    if (ok) step = 1, ok = ftruncate(fd, off_t(bytes)) == 0;
    for (size_t done = 0; ok && done < bytes;) {
      step = 2;
      size_t n = bytes - done < kWriteBytes ? bytes - done : kWriteBytes;
      hashes_[r]->add(p + done, n);
      ok = writeFully(fd, p + done, n);
      done += n;
    }
    if (ok) step = 3, ok = fsync(fd) == 0;
    if (ok) step = 4, ok = close(fd) == 0;
    if (!ok) {
      report.error = errno;
      report.failedRange = int(r);
      report.failedStep = step;
      if (fd >= 0 && step < 4) close(fd);
    }
  }
  report.finishedNanos = monotonicNanos();
  report.privateBytes = privateBytes();
  bool sent = writeFully(reportFd, &report, sizeof report);
  for (size_t r = 0; sent && report.error == 0 && r < ranges_.size(); r++) {
    Sha256::Digest d = hashes_[r]->finish();
    sent = writeFully(reportFd, d.data(), d.size());
  }
  _exit(sent && report.error == 0 ? 0 : 1);
}

ForkCapture::~ForkCapture() {
  if (child_ > 0) kill(child_, SIGKILL);
  reap(true);
  if (reportFd_ >= 0) close(reportFd_);
}

// Takes in what the child has sent; up to end of file if `block`.
void ForkCapture::readReport(bool block) {
  if (reportFd_ < 0) return;
  if (block) fcntl(reportFd_, F_SETFL, 0);
  char buffer[4096];
  for (;;) {
    ssize_t n = read(reportFd_, buffer, sizeof buffer);
    if (n > 0) {
      received_.append(buffer, size_t(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      close(reportFd_);
      reportFd_ = -1;
    }
    return;  // end of file, or nothing more yet
  }
}

void ForkCapture::reap(bool block) {
  if (child_ <= 0) return;
  pid_t r;
  do r = waitpid(child_, &status_, block ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == child_ || (r < 0 && errno == ECHILD)) child_ = -1;
}

bool ForkCapture::finished() {
  // Draining the pipe as we go lets a child with many digests to send finish.
  readReport(false);
  if (reportFd_ < 0) reap(false);
  return reportFd_ < 0 && child_ < 0;
}

PageWriteReport ForkCapture::wait() {
  readReport(true);
  reap(true);
  ChildReport child;
  size_t digestBytes = ranges_.size() * sizeof(Sha256::Digest);
  if (received_.size() < sizeof child) {
    throw std::runtime_error("the snapshot writer process ended without a report (wait status " +
                             std::to_string(status_) + ")");
  }
  std::memcpy(&child, received_.data(), sizeof child);
  if (child.error != 0) {
    int step = child.failedStep >= 0 && size_t(child.failedStep) < std::size(kSteps) ? child.failedStep : 2;
    throw std::runtime_error(ioFailure(kSteps[step], paths_[size_t(child.failedRange)], child.error));
  }
  if (received_.size() < sizeof child + digestBytes) {
    throw std::runtime_error("the snapshot writer process sent an incomplete report");
  }
  PageWriteReport report;
  report.mode = CaptureMode::Fork;
  report.protection = "fork";
  report.peakExtraBytes = child.privateBytes;
  report.writeMicros = (child.finishedNanos - capturedNanos_) / 1000;
  report.cachedMicros = report.writeMicros;  // not measured apart from the fsyncs
  for (size_t r = 0; r < ranges_.size(); r++) {
    Sha256::Digest d;
    std::memcpy(d.data(), received_.data() + sizeof child + r * d.size(), d.size());
    size_t bytes = ranges_[r].end - ranges_[r].start;
    report.segments.push_back(SegmentFile{segmentFileName(r), ranges_[r].start, bytes, Sha256::hex(d)});
    report.bytesWritten += bytes;
  }
  report.pagesWritten = report.bytesWritten / PageWriter::kPageSize;
  return report;
}

}  // namespace image
