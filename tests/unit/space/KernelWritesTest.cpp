// KernelWritesTest: reading into heap memory while a capture is active touches only the
// pages the kernel writes, and answers as one read(2) would.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "space/KernelWrites.h"
#include "space/WriteTracker.h"

namespace {

constexpr size_t kPage = 4096;

// A nonblocking socket pair and four pages, the last `protectedTail` of them PROT_NONE
// (a touch there is a crash, a read(2) there an EFAULT).
struct Reader {
  int fds[2] = {-1, -1};
  uint8_t* pages = nullptr;
  explicit Reader(size_t protectedTail) {
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
    void* m = ::mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(m != MAP_FAILED);
    pages = static_cast<uint8_t*>(m);
    if (protectedTail > 0)
      REQUIRE(::mprotect(pages + (4 - protectedTail) * kPage, protectedTail * kPage, PROT_NONE) == 0);
    space::capturesActive.fetch_add(1);
  }
  ~Reader() {
    space::capturesActive.fetch_sub(1);
    ::munmap(pages, 4 * kPage);
    ::close(fds[0]);
    ::close(fds[1]);
  }
  void send(const std::string& s) const { REQUIRE(::write(fds[1], s.data(), s.size()) == ssize_t(s.size())); }
};

}  // namespace

TEST_CASE("a read while a capture is active touches only the pages it fills") {
  // 100 bytes into a 16 KiB window whose last three pages may not be touched.
  Reader r(3);
  r.send(std::string(100, 'a'));
  CHECK(space::readIntoHeap(r.fds[0], r.pages + 8, 4 * kPage - 8) == 100);
  CHECK(r.pages[8] == 'a');
  CHECK(r.pages[107] == 'a');
}

TEST_CASE("a read while a capture is active answers what one read(2) would") {
  Reader r(0);
  SUBCASE("more than a page arrived: all of it, across pages") {
    r.send(std::string(10000, 'b'));
    CHECK(space::readIntoHeap(r.fds[0], r.pages + 100, 4 * kPage - 100) == 10000);
    CHECK(r.pages[100 + 9999] == 'b');
    CHECK(space::readIntoHeap(r.fds[0], r.pages, 4 * kPage) == -1);  // nothing more: EAGAIN
  }
  SUBCASE("exactly to a page's end, then nothing: fewer bytes than asked") {
    r.send(std::string(kPage - 16, 'c'));
    CHECK(space::readIntoHeap(r.fds[0], r.pages + 16, 2 * kPage) == ssize_t(kPage - 16));
  }
  SUBCASE("more than asked: exactly the count") {
    r.send(std::string(5000, 'd'));
    CHECK(space::readIntoHeap(r.fds[0], r.pages, 4500) == 4500);
    CHECK(space::readIntoHeap(r.fds[0], r.pages, 4 * kPage) == 500);
  }
  SUBCASE("end of stream after data: the data, then 0") {
    r.send("xyz");
    ::close(r.fds[1]);
    r.fds[1] = ::open("/dev/null", O_WRONLY);
    CHECK(space::readIntoHeap(r.fds[0], r.pages, 4 * kPage) == 3);
    CHECK(space::readIntoHeap(r.fds[0], r.pages, 4 * kPage) == 0);
  }
}

TEST_CASE("a read racing with captures that protect its page again never fails with EFAULT") {
  // Another thread arms a write tracker over the reader's pages again and again, as an
  // update's background arming does while the program runs: a page may be protected
  // between readIntoHeap's touch and its read(2). Each read must still answer its bytes.
  Reader r(0);
  uintptr_t base = reinterpret_cast<uintptr_t>(r.pages);
  space::MemoryRange range{base, base + 4 * kPage};
  std::atomic<bool> done{false};
  // Each tracker is disarmed at once but kept until the reader is done: a fault handler on
  // the reader's thread may still be asking one that has just disarmed (WriteFaults.h).
  std::vector<std::unique_ptr<space::WriteTracker>> trackers;
  std::thread arming([&] {
    while (!done.load()) {
      trackers.push_back(std::make_unique<space::WriteTracker>(std::span{&range, 1}, space::WriteTracker::Armed{}));
      trackers.back()->disarm();
    }
  });
  const std::string message(200, 'e');
  int failures = 0;
  for (int i = 0; i < 20000 && failures == 0; i++) {
    r.send(message);
    ssize_t got = space::readIntoHeap(r.fds[0], r.pages + 1000, 4 * kPage - 1000);
    if (got != ssize_t(message.size())) failures++;
  }
  done.store(true);
  arming.join();
  CHECK(failures == 0);
  CHECK(r.pages[1000 + 199] == 'e');
}
