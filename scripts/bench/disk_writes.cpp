// disk-writes: what the disk alone does with a cow snapshot's write pattern, the reference
// for the snapshot's write rate (scripts/bench/snapshot runs it beside each idle cow
// snapshot, with that snapshot's data bytes and segment count).
//
//   disk-writes DIR FILES BYTES [--small-pages] [--write-pages N]
//
// Writes BYTES of data spread evenly over FILES new files in DIR the way CowCapture does:
// each file sized first (ftruncate), then written in order with 1 MiB O_DIRECT writes
// from 1 MiB buffers in 2 MiB huge pages (--small-pages: in 4 KiB pages, as the writer's
// buffers were before; --write-pages N: writes of N pages, N at most 256, e.g. 254, the most
// separate pages this machine kind's disk takes in one request), each file fsynced and closed on a second thread at
// most eight files behind (PendingSegments). Nothing else runs: no copying, no hashing, no page protection. Prints one
// JSON object: {"files", "bytes", "micros", "MiBPerSecond"}, the time from the first open until every file is fsynced.
// Deletes the files. Exit status 1 with a message on stderr when anything fails.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "space/Reservation.h"

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kWrite = size_t(1) << 20;  // CowCapture's batch, and the most a write takes here
constexpr size_t kHugePage = space::Reservation::kHugePageSize;
constexpr size_t kBuffers = 8;        // as many as the writer rotates through
constexpr size_t kUnsyncedFiles = 8;  // PendingSegments' limit

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "disk-writes: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

// The files written and not yet fsynced, fsynced and closed in order by a thread of their own.
class Syncer {
 public:
  Syncer() : thread_([this] { run(); }) {}
  ~Syncer() { finish(); }
  // Hands over `fd` (written); blocks while kUnsyncedFiles are waiting.
  void add(int fd) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return queued_.size() - synced_ < kUnsyncedFiles; });
    queued_.push_back(fd);
    changed_.notify_all();
  }
  // Returns once every file handed over is fsynced.
  void finish() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (done_) return;
      done_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return done_ || synced_ < queued_.size(); });
      if (synced_ == queued_.size()) return;  // done, and nothing is left
      int fd = queued_[synced_];
      lock.unlock();
      if (fsync(fd) != 0 || close(fd) != 0) fail("fsync");
      lock.lock();
      synced_++;
      changed_.notify_all();
    }
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<int> queued_;  // every file handed over, in order
  size_t synced_ = 0;        // queued_[0, synced_) are fsynced and closed
  bool done_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace

int main(int argc, char** argv) {
  size_t files = argc >= 4 ? std::strtoull(argv[2], nullptr, 10) : 0;
  size_t bytes = argc >= 4 ? std::strtoull(argv[3], nullptr, 10) : 0;
  bool small = false;
  size_t writeBytes = kWrite;
  bool usable = files > 0 && bytes > 0;
  for (int i = 4; i < argc && usable; i++) {
    if (std::strcmp(argv[i], "--small-pages") == 0) {
      small = true;
    } else if (std::strcmp(argv[i], "--write-pages") == 0 && i + 1 < argc) {
      writeBytes = std::strtoull(argv[++i], nullptr, 10) * kPage;
      usable = writeBytes > 0 && writeBytes <= kWrite;
    } else {
      usable = false;
    }
  }
  if (!usable) {
    std::fprintf(stderr,
                 "usage: disk-writes DIR FILES BYTES [--small-pages] [--write-pages N]  (FILES, BYTES and N "
                 "positive, N at most 256)\n");
    return 2;
  }
  std::string directory = argv[1];
  // Whole writes, as many to each file give or take one (a segment is whole pages).
  size_t writes = (bytes + writeBytes - 1) / writeBytes;

  size_t buffersBytes = kBuffers * kWrite;
  void* mapped = mmap(nullptr, buffersBytes + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) fail("mmap");
  auto* buffers = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(mapped) + kHugePage - 1) & ~(kHugePage - 1));
  madvise(buffers, buffersBytes, small ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
  for (size_t i = 0; i < buffersBytes; i++) buffers[i] = uint8_t(i * 131 + 7);  // not zeros: nothing may skip them

  std::vector<std::string> paths;
  auto started = std::chrono::steady_clock::now();
  {
    Syncer syncer;
    size_t written = 0;
    for (size_t f = 0; f < files; f++) {
      paths.push_back(directory + "/disk-writes-" + std::to_string(f));
      int fd = open(paths.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
      if (fd < 0) fail("open " + paths.back());
      size_t fileBytes = (writes / files + (f < writes % files ? 1 : 0)) * writeBytes;
      if (ftruncate(fd, off_t(fileBytes)) != 0) fail("ftruncate");
      for (size_t at = 0; at < fileBytes; at += writeBytes, written++) {
        const uint8_t* from = buffers + (written % kBuffers) * kWrite;
        if (pwrite(fd, from, writeBytes, off_t(at)) != ssize_t(writeBytes)) fail("pwrite");
      }
      syncer.add(fd);
    }
    syncer.finish();
  }
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  for (const std::string& p : paths) unlink(p.c_str());
  size_t total = writes * writeBytes;
  std::printf("{\"files\": %zu, \"bytes\": %zu, \"micros\": %lld, \"MiBPerSecond\": %.1f}\n", files, total,
              static_cast<long long>(micros), double(total) / double(1 << 20) / (double(micros) / 1e6));
  return 0;
}
