// FirstTouchVerification: see FirstTouchVerification.h.
#include "image/FirstTouchVerification.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "image/Sha256.h"
#include "space/KernelWrites.h"
#include "space/MonotonicClock.h"
#include "space/Reservation.h"
#include "space/ThreadName.h"
#include "space/UncheckedPages.h"

namespace image {

namespace {

constexpr uint64_t kPage = space::Reservation::kPageSize;
// Hashed a piece at a time, so that a wanted segment waits for one piece, not a segment.
constexpr size_t kPieceBytes = size_t(1) << 20;

uint64_t mappedBytes(const FirstTouchVerification::Segment& s) {
  return (s.bytes + kPage - 1) & ~(kPage - 1);
}

// Raw futex calls: the fault handler waits with them, and only system calls are safe there.
void futexWait(std::atomic<uint32_t>& word, uint32_t expected, long timeoutNanos) {
  struct timespec timeout = {0, timeoutNanos};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, &timeout, nullptr, 0);
}

void futexWakeAll(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
}

std::vector<FirstTouchVerification::Segment> byAddress(std::vector<FirstTouchVerification::Segment> segments) {
  std::sort(segments.begin(), segments.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  return segments;
}

}  // namespace

// A segment left part-way because another was wanted: resumed where it stopped.
struct FirstTouchVerification::Suspended {
  size_t segment;
  uint64_t hashed;
  std::unique_ptr<Sha256> hash;
};

FirstTouchVerification::FirstTouchVerification(std::vector<Segment> segments, BadSegment onBadSegment,
                                               Checked onChecked)
    : segments_(byAddress(std::move(segments))),
      onBadSegment_(std::move(onBadSegment)),
      onChecked_(std::move(onChecked)),
      states_(std::make_unique<std::atomic<uint32_t>[]>(segments_.size())),
      wanted_(std::make_unique<std::atomic<uint8_t>[]>(segments_.size())),
      startMicros_(space::monotonicMicros()) {
  for (const Segment& s : segments_) bytes_ += s.bytes;
  // In this order: system calls on heap memory touch first, protecting code waits, the
  // fault handler knows the segments — and only then are they made unreadable.
  space::capturesActive.fetch_add(1);
  space::beginUncheckedPages();
  try {
    space::addWriteFaultOwner(this);
  } catch (...) {
    space::endUncheckedPages();
    space::capturesActive.fetch_sub(1);
    throw;
  }
  for (size_t i = 0; i < segments_.size(); i++) {
    const Segment& s = segments_[i];
    if (mprotect(reinterpret_cast<void*>(s.start), mappedBytes(s), PROT_NONE) != 0) {
      int e = errno;
      for (size_t j = 0; j < i; j++) {
        mprotect(reinterpret_cast<void*>(segments_[j].start), mappedBytes(segments_[j]), PROT_READ | PROT_WRITE);
      }
      finish();
      throw std::runtime_error(s.path + ": cannot protect its mapping: " + std::strerror(e));
    }
  }
  try {
    thread_ = std::thread([this] {
      space::nameThisThread("image-verify");
      run();
    });
  } catch (...) {
    for (const Segment& s : segments_) {
      mprotect(reinterpret_cast<void*>(s.start), mappedBytes(s), PROT_READ | PROT_WRITE);
    }
    finish();
    throw;
  }
}

FirstTouchVerification::~FirstTouchVerification() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  if (!done_.load(std::memory_order_acquire)) finish();
}

void FirstTouchVerification::finish() {
  space::removeWriteFaultOwner(this);
  while (handlersRunning_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  space::capturesActive.fetch_sub(1);
  done_.store(true, std::memory_order_release);
  done_.notify_all();
  space::endUncheckedPages();  // last: whoever waits there finds all of the above done
}

void FirstTouchVerification::waitUntilChecked() {
  done_.wait(false, std::memory_order_acquire);
}

FirstTouchStats FirstTouchVerification::stats() const {
  FirstTouchStats s;
  s.segments = segments_.size();
  s.bytes = bytes_;
  s.micros = done_.load(std::memory_order_acquire) ? micros_ : space::monotonicMicros() - startMicros_;
  s.faultsWaited = faultsWaited_.load(std::memory_order_relaxed);
  s.faultWaitMicros = faultWaitMicros_.load(std::memory_order_relaxed);
  return s;
}

bool FirstTouchVerification::handleWriteFault(uintptr_t address) {
  // Read faults come here too: PROT_NONE pages fault on every access.
  auto after = std::upper_bound(segments_.begin(), segments_.end(), address,
                                [](uintptr_t a, const Segment& s) { return a < s.start; });
  if (after == segments_.begin()) return false;
  size_t i = size_t(after - segments_.begin()) - 1;
  if (address >= segments_[i].start + mappedBytes(segments_[i])) return false;
  int savedErrno = errno;  // the interrupted code may be between a call and its errno check
  handlersRunning_.fetch_add(1, std::memory_order_acquire);
  std::atomic<uint32_t>& state = states_[i];
  if (state.load(std::memory_order_acquire) == kUnchecked) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    // 0 -> 1 counts this segment as wanted, once; pass() sets 2, so a segment that passed
    // meanwhile is not counted.
    uint8_t notWanted = 0;
    if (wanted_[i].compare_exchange_strong(notWanted, 1, std::memory_order_acq_rel)) {
      wantedCount_.fetch_add(1, std::memory_order_release);
    }
    while (state.load(std::memory_order_acquire) == kUnchecked && !stop_.load(std::memory_order_acquire)) {
      futexWait(state, kUnchecked, 20'000'000);
    }
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    faultsWaited_.fetch_add(1, std::memory_order_relaxed);
    faultWaitMicros_.fetch_add((t1.tv_sec - t0.tv_sec) * 1'000'000 + (t1.tv_nsec - t0.tv_nsec) / 1000,
                               std::memory_order_relaxed);
  }
  // A segment that failed never becomes readable: onBadSegment ends the process meanwhile.
  while (state.load(std::memory_order_acquire) == kFailed) futexWait(state, kFailed, 100'000'000);
  // Passed: the access runs again and succeeds. Still unchecked, checking has stopped (the
  // space is going away): not ours to make good, the fault is passed on as any other.
  bool passed = state.load(std::memory_order_acquire) == kPassed;
  handlersRunning_.fetch_sub(1, std::memory_order_release);
  errno = savedErrno;
  return passed;
}

size_t FirstTouchVerification::nextSegment(size_t& inOrder, const std::unique_ptr<Suspended>& suspended) {
  if (wantedCount_.load(std::memory_order_acquire) != 0) {
    for (size_t i = 0; i < segments_.size(); i++) {
      if (wanted_[i].load(std::memory_order_acquire) == 1 && states_[i].load(std::memory_order_relaxed) == kUnchecked) {
        return i;
      }
    }
  }
  if (suspended) return suspended->segment;
  while (inOrder < segments_.size() && states_[inOrder].load(std::memory_order_relaxed) != kUnchecked) inOrder++;
  return inOrder;
}

void FirstTouchVerification::run() {
  std::vector<unsigned char> buffer(kPieceBytes);
  std::unique_ptr<Suspended> suspended;
  size_t inOrder = 0;
  for (;;) {
    if (stop_.load(std::memory_order_acquire)) return;
    size_t i = nextSegment(inOrder, suspended);
    if (i >= segments_.size()) break;
    if (!check(i, buffer, suspended)) continue;
  }
  micros_ = space::monotonicMicros() - startMicros_;
  finish();
  if (onChecked_) onChecked_(stats());
}

bool FirstTouchVerification::check(size_t i, std::vector<unsigned char>& buffer,
                                   std::unique_ptr<Suspended>& suspended) {
  const Segment& s = segments_[i];
  std::unique_ptr<Sha256> hash;
  uint64_t hashed = 0;
  if (suspended && suspended->segment == i) {
    hash = std::move(suspended->hash);
    hashed = suspended->hashed;
    suspended.reset();
  } else {
    hash = std::make_unique<Sha256>();
  }
  int fd = open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(i, s.path + ": cannot open: " + std::strerror(errno));
    return true;
  }
  bool wanted = wanted_[i].load(std::memory_order_acquire) == 1;
  while (hashed < s.bytes) {
    if (!wanted && !suspended && wantedCount_.load(std::memory_order_acquire) != 0) {
      // A fault waits for another segment: take it first, come back here afterwards.
      suspended = std::make_unique<Suspended>(Suspended{i, hashed, std::move(hash)});
      close(fd);
      return false;
    }
    if (stop_.load(std::memory_order_acquire)) break;
    size_t want = size_t(std::min<uint64_t>(buffer.size(), s.bytes - hashed));
    ssize_t n = pread(fd, buffer.data(), want, off_t(hashed));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : 0;
      close(fd);
      fail(i,
           s.path + (n < 0 ? ": cannot read: " + std::string(std::strerror(e)) : ": shorter than the manifest says"));
      return true;
    }
    hash->add(buffer.data(), size_t(n));
    hashed += uint64_t(n);
  }
  close(fd);
  if (hashed < s.bytes) return true;  // stopping
  if (Sha256::hex(hash->finish()) != s.sha256) {
    fail(i, s.path +
                ": SHA-256 does not match the manifest (the segment was changed or damaged; the program had not "
                "read it)");
    return true;
  }
  pass(i);
  return true;
}

void FirstTouchVerification::pass(size_t i) {
  const Segment& s = segments_[i];
  if (mprotect(reinterpret_cast<void*>(s.start), mappedBytes(s), PROT_READ | PROT_WRITE) != 0) {
    fail(i, s.path + ": cannot make its mapping readable after checking it: " + std::strerror(errno));
    return;
  }
  states_[i].store(kPassed, std::memory_order_release);
  futexWakeAll(states_[i]);
  if (wanted_[i].exchange(2, std::memory_order_acq_rel) == 1) wantedCount_.fetch_sub(1, std::memory_order_release);
}

void FirstTouchVerification::fail(size_t i, const std::string& problem) {
  states_[i].store(kFailed, std::memory_order_release);
  futexWakeAll(states_[i]);
  onBadSegment_(problem);
  // onBadSegment_ ends the process; should it return, check nothing more.
  stop_.store(true, std::memory_order_release);
}

}  // namespace image
