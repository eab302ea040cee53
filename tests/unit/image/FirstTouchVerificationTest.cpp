// FirstTouchVerification: segments mapped from files are unreadable until checked; a
// touch from any thread (and a system call on heap memory, touched first) waits for its
// segment's check and then sees the file's bytes; writes stay private; code that protects
// memory waits for checking to end; a damaged segment ends the process with its problem
// before the thread that touched it reads a byte of it.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "image/FirstTouchVerification.h"
#include "image/ImageManifest.h"
#include "space/KernelWrites.h"
#include "space/UncheckedPages.h"

using namespace image;
namespace fs = std::filesystem;

namespace {

constexpr size_t kPage = 4096;

struct TempDir {
  fs::path path;
  TempDir() {
    char name[] = "/tmp/espell-first-touch-XXXXXX";
    path = mkdtemp(name);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Segment files of random bytes, mapped privately side by side in one reservation, as
// ImageMappings maps an image's segments.
struct MappedSegments {
  TempDir dir;
  std::vector<std::string> contents;
  std::vector<FirstTouchVerification::Segment> segments;
  void* base = nullptr;
  size_t reserved = 0;

  explicit MappedSegments(const std::vector<size_t>& sizes) {
    std::mt19937_64 random(42);
    for (size_t s : sizes) reserved += (s + kPage - 1) / kPage * kPage;
    base = mmap(nullptr, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(base != MAP_FAILED);
    uintptr_t at = reinterpret_cast<uintptr_t>(base);
    for (size_t i = 0; i < sizes.size(); i++) {
      std::string bytes(sizes[i], '\0');
      for (size_t b = 0; b < bytes.size(); b += 8) {
        uint64_t word = random();
        std::memcpy(&bytes[b], &word, std::min<size_t>(8, bytes.size() - b));
      }
      std::string path = (dir.path / ("segment-" + std::to_string(i) + ".bin")).string();
      std::ofstream(path, std::ios::binary) << bytes;
      int fd = open(path.c_str(), O_RDONLY);
      REQUIRE(fd >= 0);
      void* p = mmap(reinterpret_cast<void*>(at), sizes[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
      close(fd);
      REQUIRE(p == reinterpret_cast<void*>(at));
      segments.push_back({at, sizes[i], path, sha256Hex(bytes.data(), bytes.size())});
      contents.push_back(std::move(bytes));
      at += (sizes[i] + kPage - 1) / kPage * kPage;
    }
  }
  ~MappedSegments() { munmap(base, reserved); }
  unsigned char* at(size_t segment, size_t offset) const {
    return reinterpret_cast<unsigned char*>(segments[segment].start + offset);
  }
};

void mustNotFail(const std::string& problem) {
  (void)!write(STDERR_FILENO, problem.data(), problem.size());
  _exit(70);  // no segment may fail here
}

}  // namespace

TEST_CASE("segments are unreadable until checked; a touch waits for its segment, then sees the file") {
  // The first segment is large, so the checker is still on it when the last is touched.
  MappedSegments m({size_t(64) << 20, 3 * kPage + 100, 5 * kPage});
  {
    FirstTouchVerification checking(m.segments, mustNotFail);
    CHECK(!checking.checked());
    // Another thread touches the last segment while this one touches the middle one.
    std::atomic<bool> same{false};
    std::thread other([&] { same = std::memcmp(m.at(2, 2 * kPage), &m.contents[2][2 * kPage], kPage) == 0; });
    CHECK(std::memcmp(m.at(1, 0), m.contents[1].data(), m.contents[1].size()) == 0);
    other.join();
    CHECK(same);
    // Writes land in the private copy, not in the file.
    *m.at(1, 10) ^= 0xff;
    CHECK(*m.at(1, 10) == static_cast<unsigned char>(m.contents[1][10] ^ 0xff));
    checking.waitUntilChecked();
    FirstTouchStats s = checking.stats();
    CHECK(s.segments == 3);
    CHECK(s.bytes == (size_t(64) << 20) + 8 * kPage + 100);
    CHECK(s.faultsWaited >= 1);
    CHECK(std::memcmp(m.at(0, 12345), &m.contents[0][12345], 1000) == 0);
  }
  std::ifstream file(m.segments[1].path, std::ios::binary);
  std::string onDisk((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  CHECK(onDisk == m.contents[1]);
}

TEST_CASE("system calls on unchecked heap memory touch it first and succeed") {
  MappedSegments m({size_t(32) << 20, 2 * kPage, 2 * kPage});
  FirstTouchVerification checking(m.segments, mustNotFail);
  int pair[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
  // send(2) from the second segment: the kernel would answer EFAULT, not fault.
  space::beforeKernelRead(m.at(1, 100), 200);
  REQUIRE(send(pair[0], m.at(1, 100), 200, 0) == 200);
  char received[200];
  REQUIRE(read(pair[1], received, sizeof received) == 200);
  CHECK(std::memcmp(received, &m.contents[1][100], 200) == 0);
  // read(2) into the third segment.
  REQUIRE(write(pair[0], "hello", 5) == 5);
  CHECK(space::readIntoHeap(pair[1], m.at(2, kPage - 2), 5) == 5);
  CHECK(std::memcmp(m.at(2, kPage - 2), "hello", 5) == 0);
  close(pair[0]);
  close(pair[1]);
  // Code that protects heap pages itself waits until no page is unchecked.
  space::awaitPagesChecked();
  CHECK(checking.checked());
  CHECK(space::capturesActive.load() == 0);
}

TEST_CASE("a damaged segment ends the process, naming its file, before its bytes are read") {
  MappedSegments m({size_t(16) << 20, 2 * kPage});
  m.segments[1].sha256 = std::string(64, '0');  // as if the file had been changed since
  int report[2];
  REQUIRE(pipe(report) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(report[0]);
    int out = report[1];
    FirstTouchVerification checking(m.segments, [out](const std::string& problem) {
      std::string line = "bad: " + problem + "\n";
      (void)!write(out, line.data(), line.size());
      _exit(65);
    });
    volatile unsigned char byte = *m.at(1, 0);  // waits, and never returns
    (void)byte;
    (void)!write(out, "TOUCHED\n", 8);
    _exit(0);
  }
  close(report[1]);
  std::string said;
  char buffer[512];
  for (ssize_t n; (n = read(report[0], buffer, sizeof buffer)) > 0;) said.append(buffer, size_t(n));
  close(report[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 65);
  CAPTURE(said);
  CHECK(said.find("segment-1.bin: SHA-256 does not match the manifest") != std::string::npos);
  CHECK(said.find("TOUCHED") == std::string::npos);
}

TEST_CASE("checking that stops early leaves the rest unreadable and gives the counters back") {
  MappedSegments m({size_t(64) << 20, size_t(64) << 20});
  {
    FirstTouchVerification checking(m.segments, mustNotFail);
    CHECK(space::capturesActive.load() == 1);
  }
  CHECK(space::capturesActive.load() == 0);
  space::awaitPagesChecked();  // returns at once
}
