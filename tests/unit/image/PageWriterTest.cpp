// PageWriter: the files hold the ranges exactly as they were at capture() while two threads
// keep writing them (pages far ahead of the writer included, and a read(2) into a
// protected page), for every capture mode and both write protections; afterwards the
// memory holds the later writes and is writable; an I/O failure is reported with the file
// and leaves the memory unharmed; WriteTracker keeps working beside a capture; segments
// made durable after newer ones were written keep their order and checksums; pages never
// touched are left as holes of zeros (PageResidence); writes on a WriteThread keep their
// order and report failures, with O_DIRECT where the data is aligned.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "image/ArmedProtection.h"
#include "image/BackgroundPriority.h"
#include "image/CapturedPages.h"
#include "image/CowCapture.h"
#include "image/HashThread.h"
#include "image/PageResidence.h"
#include "image/PageWriter.h"
#include "image/PendingSegments.h"
#include "image/SegmentOutput.h"
#include "image/Sha256.h"
#include "image/SignalArming.h"
#include "image/SignalProtection.h"
#include "image/UffdProtection.h"
#include "image/WriteThread.h"
#include "space/Reservation.h"
#include "space/WriteTracker.h"

using namespace image;

namespace {

constexpr size_t kPage = PageWriter::kPageSize;

// The word at `word` of page `page` in generation `generation`: every word of every
// generation differs, so a page from the wrong moment cannot pass for the right one.
uint64_t patternWord(size_t page, size_t word, uint64_t generation) {
  uint64_t x = (uint64_t(page) << 32) ^ (uint64_t(word) << 8) ^ generation;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 29;
  return x;
}

void fillPage(uint8_t* p, size_t page, uint64_t generation) {
  uint64_t* w = reinterpret_cast<uint64_t*>(p);
  for (size_t i = 0; i < kPage / 8; i++) w[i] = patternWord(page, i, generation);
}

bool pageHolds(const uint8_t* p, size_t page, uint64_t generation) {
  const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
  for (size_t i = 0; i < kPage / 8; i++) {
    if (w[i] != patternWord(page, i, generation)) return false;
  }
  return true;
}

// `count` pages of anonymous memory, page i filled with its generation-0 pattern.
struct FilledPages {
  uint8_t* base;
  size_t count;
  explicit FilledPages(size_t pages) : count(pages) {
    void* p = mmap(nullptr, count * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    base = static_cast<uint8_t*>(p);
    for (size_t i = 0; i < count; i++) fillPage(page(i), i, 0);
  }
  ~FilledPages() { munmap(base, count * kPage); }
  FilledPages(const FilledPages&) = delete;
  FilledPages& operator=(const FilledPages&) = delete;
  uint8_t* page(size_t i) const { return base + i * kPage; }
  // Pages [first, end) as a range.
  PageRange range(size_t first, size_t end) const {
    uintptr_t b = reinterpret_cast<uintptr_t>(base);
    return {b + first * kPage, b + end * kPage};
  }
};

// Anonymous memory cut into ranges with a gap between two of them (a page no range covers).
struct Memory {
  static constexpr size_t kPages = 4096;  // 16 MiB
  uint8_t* base;
  std::vector<PageRange> ranges;
  Memory() {
    void* p = mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    base = static_cast<uint8_t*>(p);
    for (size_t i = 0; i < kPages; i++) fillPage(page(i), i, 0);
    uintptr_t b = reinterpret_cast<uintptr_t>(base);
    ranges = {{b, b + 256 * kPage},
              {b + 256 * kPage, b + 2048 * kPage},
              {b + 2049 * kPage, b + 2049 * kPage},  // empty
              {b + 2049 * kPage, b + kPages * kPage}};
  }
  ~Memory() { munmap(base, kPages * kPage); }
  uint8_t* page(size_t i) { return base + i * kPage; }
  size_t pageNumber(uintptr_t address) const { return (address - reinterpret_cast<uintptr_t>(base)) / kPage; }
};

struct TempDirectory {
  std::string path;
  TempDirectory() {
    char name[] = "/tmp/espell-pagewriter-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path = name;
  }
  ~TempDirectory() { std::system(("rm -rf '" + path + "'").c_str()); }
};

std::string readFile(const std::string& path) {
  std::string s;
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return s;
  char buffer[1 << 16];
  for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) s.append(buffer, size_t(n));
  close(fd);
  return s;
}

// The one segment file `report` wrote into `directory`, `pages` pages long (required).
std::string onlySegmentFile(const PageWriteReport& report, const std::string& directory, size_t pages) {
  REQUIRE(report.segments.size() == 1);
  std::string bytes = readFile(directory + "/" + report.segments[0].file);
  REQUIRE(bytes.size() == pages * kPage);
  return bytes;
}

// How many pages of a segment file do not hold page i's generation-0 pattern (FilledPages).
size_t pagesNotAsFilled(const std::string& bytes) {
  size_t wrong = 0;
  for (size_t i = 0; i < bytes.size() / kPage; i++)
    wrong += !pageHolds(reinterpret_cast<const uint8_t*>(bytes.data()) + i * kPage, i, 0);
  return wrong;
}

std::string sha256Hex(const std::string& bytes) {
  Sha256 h;
  h.add(bytes.data(), bytes.size());
  return Sha256::hex(h.finish());
}

// Writes every page of the memory (a page still protected would crash the test).
void writeEveryPage(Memory& m) {
  for (size_t i = 0; i < Memory::kPages; i++) m.page(i)[kPage - 1] ^= 0;
}

// Every segment file holds its pages as filled before the capture (generation 0).
void checkSegmentsAsCaptured(const Memory& m, const TempDirectory& dir, const PageWriteReport& report) {
  REQUIRE(report.segments.size() == m.ranges.size());
  for (size_t r = 0; r < m.ranges.size(); r++) {
    std::string bytes = readFile(dir.path + "/" + report.segments[r].file);
    size_t wrong = 0;
    for (size_t off = 0; off < bytes.size(); off += kPage) {
      size_t page = m.pageNumber(m.ranges[r].start + off);
      if (!pageHolds(reinterpret_cast<const uint8_t*>(bytes.data()) + off, page, 0)) wrong++;
    }
    CHECK_MESSAGE(wrong == 0, "segment ", r, ": ", wrong, " pages differ from the capture");
  }
}

enum class Armed { No, Yes };

// Captures the memory and writes it while the main thread and a second one keep writing
// (generation 1 on even pages from here, 2 on odd pages from the other thread), then
// checks files, digests and memory. Armed::Yes arms the protection ahead of the capture
// (armProtection: by userfaultfd, or by mprotect where forced or unavailable) over less
// than the capture takes (the last range's second half is added after) and more (the page
// between two ranges), while both threads write every page they will write after the
// capture, before and after the arming is done: each such block must be protected again
// by the capture, or the files show later writes.
PageWriteReport captureWhileWriting(CaptureMode mode, Armed arming = Armed::No) {
  Memory m;
  TempDirectory dir;
  PageWriter writer(m.ranges, mode, dir.path);

  std::vector<uint8_t> written(Memory::kPages, 0);  // generation last written, by page
  auto writePages = [&](unsigned seed, size_t parity, uint64_t generation) {
    std::mt19937 random(seed);
    // The last pages first: far ahead of the writer.
    for (size_t i = Memory::kPages - 2 + parity; i > Memory::kPages - 64; i -= 2) {
      fillPage(m.page(i), i, generation);
      written[i] = uint8_t(generation);
    }
    for (int k = 0; k < 600; k++) {
      size_t i = (random() % (Memory::kPages / 2)) * 2 + parity;
      fillPage(m.page(i), i, generation);
      written[i] = uint8_t(generation);
    }
  };
  std::unique_ptr<ArmedProtection> armed;
  size_t gapPage = 2048;
  if (arming == Armed::Yes) {
    std::vector<PageRange> ahead = {m.ranges[0], {m.ranges[1].start, m.ranges[1].end + kPage}, m.ranges[3]};
    ahead[2].end = ahead[2].start + (ahead[2].end - ahead[2].start) / kPage / 2 * kPage;
    try {
      armed = armProtection(ahead);
    } catch (const std::runtime_error& e) {
      MESSAGE("not armed: ", std::string(e.what()));  // the capture protects everything
      armed = nullptr;
    }
    std::thread early([&] { writePages(7, 1, 0); });
    writePages(3, 0, 0);
    early.join();
    while (armed && !armed->ready()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::thread late([&] { writePages(7, 1, 0); });
    writePages(3, 0, 0);
    late.join();
    fillPage(m.page(gapPage), gapPage, 0);
    if (armed) {
      writer.capture(std::move(armed));
    } else {
      writer.capture();
    }
    fillPage(m.page(gapPage), gapPage, 1);  // armed, but not captured: it must not wait
    written[gapPage] = 1;
  } else {
    writer.capture();
  }
  std::thread other([&] { writePages(7, 1, 2); });
  // The kernel writes into a protected page on our behalf.
  size_t readPage = Memory::kPages - 100;  // even, and not among the last ones written above
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::string message = "written by the kernel";
  REQUIRE(write(fds[1], message.data(), message.size()) == ssize_t(message.size()));
  PageWriter::beforeKernelWrite(m.page(readPage) + 100, message.size());
  CHECK(read(fds[0], m.page(readPage) + 100, message.size()) == ssize_t(message.size()));
  close(fds[0]);
  close(fds[1]);
  writePages(3, 0, 1);
  other.join();

  PageWriteReport report = writer.wait();
  CHECK(writer.finished());
  CHECK(report.mode == mode);
  CHECK(report.pagesWritten == Memory::kPages - 1);  // all but the gap
  CHECK(report.bytesWritten == (Memory::kPages - 1) * kPage);
  REQUIRE(report.segments.size() == m.ranges.size());
  for (size_t r = 0; r < m.ranges.size(); r++) {
    const SegmentFile& s = report.segments[r];
    CHECK(s.file == "segment-" + std::to_string(r) + ".bin");
    CHECK(s.start == m.ranges[r].start);
    CHECK(s.bytes == m.ranges[r].end - m.ranges[r].start);
    std::string bytes = readFile(dir.path + "/" + s.file);
    REQUIRE(bytes.size() == s.bytes);
    CHECK(s.sha256 == sha256Hex(bytes));
    size_t wrong = 0;
    for (size_t off = 0; off < bytes.size(); off += kPage) {
      size_t page = m.pageNumber(m.ranges[r].start + off);
      if (!pageHolds(reinterpret_cast<const uint8_t*>(bytes.data()) + off, page, 0)) wrong++;
    }
    CHECK_MESSAGE(wrong == 0, "segment ", r, ": ", wrong, " pages differ from the capture");
  }
  // The memory holds the later writes.
  size_t lost = 0;
  for (size_t i = 0; i < Memory::kPages; i++) {
    if (i == readPage) continue;
    if (!pageHolds(m.page(i), i, written[i])) lost++;
  }
  CHECK(lost == 0);
  CHECK(std::memcmp(m.page(readPage) + 100, message.data(), message.size()) == 0);
  writeEveryPage(m);
  return report;
}

// Sets an environment variable for one scope.
struct ScopedEnvironment {
  std::string name;
  ScopedEnvironment(const char* n, const char* value) : name(n) { setenv(n, value, 1); }
  ~ScopedEnvironment() { unsetenv(name.c_str()); }
};

}  // namespace

TEST_CASE("Cow capture by userfaultfd (or its fallback) writes the memory as of capture") {
  PageWriteReport report = captureWhileWriting(CaptureMode::Cow);
  MESSAGE("protection: ", report.protection, ", saved by copy-on-write: ", report.pagesSavedByCow);
  CHECK((report.protection == "userfaultfd" || report.protection == "mprotect"));
  CHECK(report.pagesSavedByCow > 0);
  CHECK(report.peakExtraBytes > 0);
}

TEST_CASE("Cow capture's batch buffers are at most 1/128 of what it captures: 1 MiB batches, or two smaller ones") {
  const size_t mib = 256;  // pages
  auto check = [](size_t pages, size_t batchPages, size_t buffers) {
    CowCapture::Batches b = CowCapture::batchesFor(pages);
    CHECK(b.pages == batchPages);
    CHECK(b.buffers == buffers);
    if (pages >= 128 * 2 * CowCapture::kMinBatchPages) CHECK(b.pages * b.buffers <= pages / 128);
  };
  check(1400 * mib, 256, 8);  // the benchmark's 1 GiB of live data: as before
  check(350 * mib, 256, 2);   // its 256 MiB
  check(96 * mib, 128, 2);    // its 64 MiB: two 512 KiB batches
  check(20 * mib, 128, 2);    // smaller still: 512 KiB batches, the least
  check(0, 128, 2);
}

TEST_CASE("Saved copies spill past 1/256 of the capture, at least 64 pages and at most 1 MiB") {
  const size_t mib = 256;                              // pages
  CHECK(CowCapture::spillAtPages(1400 * mib) == 256);  // the benchmark's 1 GiB: 1 MiB, as before
  CHECK(CowCapture::spillAtPages(120 * mib) == 120);   // its 64 MiB under load: 0.4%
  CHECK(CowCapture::spillAtPages(8 * mib) == 64);
  CHECK(CowCapture::spillAtPages(0) == 64);
}

TEST_CASE("Cow capture armed ahead protects again what was written meanwhile, and what was added") {
  auto check = [](const PageWriteReport& report) {
    MESSAGE("protection: ", report.protection, ", protected in the pause: ", report.pagesProtectedInPause,
            ", saved by copy-on-write: ", report.pagesSavedByCow);
    CHECK(report.armMicros > 0);
    CHECK(report.pagesProtectedInPause <= report.pagesWritten);
    CHECK(report.pagesSavedByCow > 0);
  };
  SUBCASE("by userfaultfd (or its fallback)") {
    check(captureWhileWriting(CaptureMode::Cow, Armed::Yes));
  }
  SUBCASE("by mprotect, the writes faulting on two threads") {
    ScopedEnvironment forced("ESPELL_SNAPSHOT_PROTECTION", "mprotect");
    PageWriteReport report = captureWhileWriting(CaptureMode::Cow, Armed::Yes);
    CHECK(report.protection == "mprotect");
    check(report);
  }
}

namespace {

// Descriptors this process holds open on files in `directory` (a nameless O_TMPFILE file
// there reads back as "DIRECTORY/#INODE (deleted)").
size_t openFilesUnder(const std::string& directory) {
  size_t open = 0;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    open += !ec && target.rfind(directory + "/", 0) == 0;
  }
  return open;
}

// Captures Memory while the writer is held back and a program thread writes every page
// from the last one down: the pages' saved copies pile up ahead of the writer until the
// shadow's bound, where the program waits. Let go, the writer spills those it will not
// write at once, and the program goes on. The files hold the memory as of the capture,
// the memory the writes.
PageWriteReport captureWithWriterHeld(const char* protection) {
  std::unique_ptr<ScopedEnvironment> forced;
  if (protection) forced = std::make_unique<ScopedEnvironment>("ESPELL_SNAPSHOT_PROTECTION", protection);
  Memory m;
  TempDirectory dir;
  PageWriter writer(m.ranges, CaptureMode::Cow, dir.path);
  CowCapture::holdWritersForTests = true;
  writer.capture();
  std::atomic<size_t> pagesWritten{0};
  std::thread program([&] {
    for (size_t i = Memory::kPages; i-- > 0;) {
      fillPage(m.page(i), i, 1);
      pagesWritten.fetch_add(1);
    }
  });
  // The writer spills nothing while held: the program stops at the bound (a page beyond
  // the saves is the one waiting; the page between the ranges is never protected).
  const size_t bound = 2 * CowCapture::spillAtPages(Memory::kPages - 1);
  size_t seen = SIZE_MAX;
  for (int quiet = 0; quiet < 5;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    size_t now = pagesWritten.load();
    quiet = now == seen ? quiet + 1 : 0;
    seen = now;
  }
  CHECK_MESSAGE(seen <= bound + 1, "the program wrote ", seen, " pages past a bound of ", bound, " saved copies");
  CowCapture::holdWritersForTests = false;
  program.join();
  PageWriteReport report = writer.wait();
  // The writer closed the spill file itself, before wait() returned: closing frees its
  // blocks, which waits for the disk where the file system discards them, and the thread
  // that destroys the capture is the program's.
  CHECK(openFilesUnder(dir.path) == 0);
  CowCapture::Batches batches = CowCapture::batchesFor(Memory::kPages - 1);
  CHECK(report.peakExtraBytes <= (batches.pages * batches.buffers + bound) * kPage);
  REQUIRE(report.segments.size() == m.ranges.size());
  size_t wrong = 0;
  for (size_t r = 0; r < m.ranges.size(); r++) {
    std::string bytes = readFile(dir.path + "/" + report.segments[r].file);
    REQUIRE(bytes.size() == report.segments[r].bytes);
    CHECK(report.segments[r].sha256 == sha256Hex(bytes));
    for (size_t off = 0; off < bytes.size(); off += kPage) {
      if (!pageHolds(reinterpret_cast<const uint8_t*>(bytes.data()) + off, m.pageNumber(m.ranges[r].start + off), 0))
        wrong++;
    }
  }
  CHECK_MESSAGE(wrong == 0, wrong, " pages differ from the capture");
  size_t lost = 0;
  for (size_t i = 0; i < Memory::kPages; i++) lost += !pageHolds(m.page(i), i, 1);
  CHECK(lost == 0);
  // Nothing of the spill file is left in the directory.
  size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) entries += entry.is_regular_file();
  CHECK(entries == m.ranges.size());
  return report;
}

}  // namespace

TEST_CASE(
    "A writer far behind the program spills the saved copies ahead of it, writes them back in place, and holds the "
    "program at the bound") {
  for (const char* protection : {static_cast<const char*>(nullptr), "mprotect"}) {
    CAPTURE(protection ? protection : "default");
    PageWriteReport report = captureWithWriterHeld(protection);
    MESSAGE("protection: ", report.protection, ", saved: ", report.pagesSavedByCow, ", spilled: ", report.pagesSpilled,
            ", peak extra: ", report.peakExtraBytes / kPage, " pages");
    // The saves up to the bound, then those made while the writer went on; the writer,
    // let go past its spilling threshold, spilled the copies ahead of it.
    CHECK(report.pagesSavedByCow >= 2 * CowCapture::spillAtPages(Memory::kPages - 1));
    CHECK(report.pagesSpilled > 0);
  }
}

TEST_CASE("A page the program writes first that was all zeros is saved as zeros: nothing copied, the file right") {
  for (const char* protection : {static_cast<const char*>(nullptr), "mprotect"}) {
    CAPTURE(protection ? protection : "default");
    std::unique_ptr<ScopedEnvironment> forced;
    if (protection) forced = std::make_unique<ScopedEnvironment>("ESPELL_SNAPSHOT_PROTECTION", protection);
    Memory m;
    constexpr size_t kZeroPages = 64, kWritten = 128;  // the first of the written pages are zeros
    for (size_t i = 0; i < kZeroPages; i++) std::memset(m.page(i), 0, kPage);
    TempDirectory dir;
    PageWriter writer(m.ranges, CaptureMode::Cow, dir.path);
    CowCapture::holdWritersForTests = true;  // every page written is saved by the program's write
    writer.capture();
    for (size_t i = 0; i < kWritten; i++) fillPage(m.page(i), i, 1);
    CowCapture::holdWritersForTests = false;
    PageWriteReport report = writer.wait();
    MESSAGE("protection: ", report.protection, ", saved: ", report.pagesSavedByCow, ", zeros: ", report.zeroPagesSaved,
            ", peak extra: ", report.peakExtraBytes / kPage, " pages");
    CHECK(report.pagesSavedByCow >= kWritten);
    CHECK(report.zeroPagesSaved == kZeroPages);
    CowCapture::Batches batches = CowCapture::batchesFor(Memory::kPages - 1);
    CHECK(report.peakExtraBytes <= (batches.pages * batches.buffers + report.pagesSavedByCow - kZeroPages) * kPage);
    REQUIRE(report.segments.size() == m.ranges.size());
    std::string first = readFile(dir.path + "/" + report.segments[0].file);
    REQUIRE(first.size() == m.ranges[0].end - m.ranges[0].start);
    CHECK(report.segments[0].sha256 == sha256Hex(first));
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(first.data());
    size_t wrong = 0;
    for (size_t i = 0; i < kWritten; i++) {
      bool right = i < kZeroPages
                       ? std::all_of(bytes + i * kPage, bytes + (i + 1) * kPage, [](uint8_t b) { return b == 0; })
                       : pageHolds(bytes + i * kPage, i, 0);
      wrong += !right || !pageHolds(m.page(i), i, 1);
    }
    CHECK_MESSAGE(wrong == 0, wrong, " pages differ in the file (as of the capture) or in memory (as written)");
  }
}

TEST_CASE("Cow capture armed ahead protects in the pause only the blocks written since the arming") {
  std::optional<ScopedEnvironment> forced;
  SUBCASE("by userfaultfd (or its fallback)") {}
  SUBCASE("by mprotect") {
    forced.emplace("ESPELL_SNAPSHOT_PROTECTION", "mprotect");
  }
  Memory m;
  TempDirectory dir;
  std::unique_ptr<ArmedProtection> armed = armProtection(m.ranges);
  const std::string protection = armed->name();
  while (!armed->ready()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const size_t pages[] = {10, 1000, 3000};  // in three blocks (of 32 pages, from the base)
  for (size_t p : pages) fillPage(m.page(p), p, 0);
  PageWriter writer(m.ranges, CaptureMode::Cow, dir.path);
  writer.capture(std::move(armed));
  for (size_t p : pages) fillPage(m.page(p), p, 1);
  for (size_t p = 0; p < Memory::kPages; p += 7) fillPage(m.page(p), p, 1);
  PageWriteReport report = writer.wait();
  CHECK(report.protection == protection);
  if (forced) CHECK(protection == "mprotect");
  CHECK(report.pagesProtectedInPause == 3 * ArmedProtection::kBlockPages);
  checkSegmentsAsCaptured(m, dir, report);
  writeEveryPage(m);
}

namespace {

// Protects `pages` by userfaultfd, or says why it cannot here and answers null.
std::unique_ptr<UffdProtection> uffdProtectionOrNone(CapturedPages& pages) {
  try {
    return std::make_unique<UffdProtection>(pages);
  } catch (const std::runtime_error& e) {
    MESSAGE("userfaultfd write-protection unavailable here: ", e.what());
    return nullptr;
  }
}

}  // namespace

TEST_CASE("Armed by mprotect, past its bound on blocks a write unprotects its whole range, which the pause protects") {
  Memory m;
  TempDirectory dir;
  // Armed as two ranges, pages [0, 2048) and [2049, 4096) (the first two captured ranges
  // are adjacent), and two blocks at most: the third write gives up on its range.
  auto armed = std::make_unique<SignalArming>(m.ranges, PageRange{}, 2);
  while (!armed->ready()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  fillPage(m.page(10), 10, 0);
  fillPage(m.page(3000), 3000, 0);
  fillPage(m.page(1000), 1000, 0);
  for (size_t p = 0; p < 2048; p += 64) fillPage(m.page(p), p, 0);  // writable since: no fault
  PageWriter writer(m.ranges, CaptureMode::Cow, dir.path);
  writer.capture(std::move(armed));
  for (size_t p = 0; p < Memory::kPages; p += 5) fillPage(m.page(p), p, 1);
  PageWriteReport report = writer.wait();
  CHECK(report.protection == "mprotect");
  // All of the first range, given up, and the block of page 3000 in the second.
  CHECK(report.pagesProtectedInPause == 2048 + ArmedProtection::kBlockPages);
  checkSegmentsAsCaptured(m, dir, report);
  writeEveryPage(m);
}

TEST_CASE("An arming by mprotect that is not captured leaves every page writable") {
  Memory m;
  {
    SignalArming armed(m.ranges);
    while (!armed.ready()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    fillPage(m.page(77), 77, 1);  // a block written while armed
  }
  writeEveryPage(m);  // would crash on a page still protected
  CHECK(pageHolds(m.page(77), 77, 1));
}

TEST_CASE(
    "A capture's last page in an address range counts pages in the order of the ranges, whatever their addresses") {
  Memory m;
  uintptr_t b = reinterpret_cast<uintptr_t>(m.base);
  CapturedPages pages(m.ranges);  // pages 0-2047 at 0-2047, then 2048-4094 at 2049-4095 (2048 is not captured)
  CHECK(pages.lastPageIn(b, b + kPage) == 0);
  CHECK(pages.lastPageIn(b + 256 * kPage, b + 2048 * kPage) == 2047);
  CHECK(pages.lastPageIn(b + 2048 * kPage, b + 2049 * kPage) == CapturedPages::kNone);
  CHECK(pages.lastPageIn(b + 2047 * kPage + 8, b + 2050 * kPage - 8) == 2048);
  CHECK(pages.lastPageIn(b, b + Memory::kPages * kPage) == 4094);
  CHECK(pages.lastPageIn(b + Memory::kPages * kPage, b + (Memory::kPages + 1) * kPage) == CapturedPages::kNone);
  // The upper half first, as an image lists its nursery before old space.
  CapturedPages swapped({{b + 2048 * kPage, b + 4096 * kPage}, {b, b + 1024 * kPage}});
  CHECK(swapped.lastPageIn(b, b + 4096 * kPage) == 3071);
  CHECK(swapped.lastPageIn(b + 2048 * kPage, b + 4096 * kPage) == 2047);
  CHECK(swapped.lastPageIn(b + 1024 * kPage, b + 2048 * kPage) == CapturedPages::kNone);
}

TEST_CASE("A cow capture needs the pages its writer has not taken, and none once it is done; copy and fork none") {
  Memory m;
  TempDirectory dir;
  uintptr_t b = reinterpret_cast<uintptr_t>(m.base);
  {
    PageWriter writer(m.ranges, CaptureMode::Cow, dir.path);
    CHECK_FALSE(writer.needs(b, b + kPage));  // nothing captured yet
    CowCapture::holdWritersForTests = true;
    writer.capture();
    CHECK(writer.needs(b, b + kPage));
    CHECK(writer.needs(b + 4095 * kPage, b + 4096 * kPage));
    CHECK_FALSE(writer.needs(b + 2048 * kPage, b + 2049 * kPage));  // between the ranges
    CowCapture::holdWritersForTests = false;
    // The writer takes the ranges in order: the first one's pages stop being needed as it
    // goes on (within seconds: 16 MiB unpaced).
    auto giveUp = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (writer.needs(b, b + 256 * kPage) && std::chrono::steady_clock::now() < giveUp)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    CHECK_FALSE(writer.needs(b, b + 256 * kPage));
    writer.wait();
    CHECK_FALSE(writer.needs(b, b + Memory::kPages * kPage));
  }
  for (CaptureMode mode : {CaptureMode::Copy, CaptureMode::Fork}) {
    TempDirectory other;
    PageWriter writer(m.ranges, mode, other.path);
    writer.capture();
    CHECK_FALSE(writer.needs(b, b + Memory::kPages * kPage));
    writer.wait();
  }
}

TEST_CASE("Saved copies take the shadow's pool first, reused once taken or spilled; past it, pages of their own") {
  FilledPages memory(16);
  uint8_t* base = memory.base;
  CapturedPages pages({memory.range(0, 16)});
  pages.reservePool(4);
  pages.warmPool();
  CHECK(pages.peakExtraBytes() == 4 * kPage);  // the pool, resident from here on
  std::vector<uint8_t> out(kPage);
  auto takenHolds = [&](size_t page) {
    return pages.take(page, out.data()) == CapturedPages::Taken::Shadow && pageHolds(out.data(), page, 0);
  };
  for (size_t i = 0; i < 6; i++) pages.preserve(i);  // 4 in the pool, 2 on pages of their own
  CHECK(pages.pagesSavedInPool() == 4);
  CHECK(pages.peakExtraBytes() == 6 * kPage);
  for (size_t i = 0; i < 6; i++) fillPage(base + i * kPage, i, 1);  // the program writes them
  // Taken by the writer: the pool pages are free again at once.
  CHECK(takenHolds(0));
  CHECK(takenHolds(1));
  pages.releaseShadow(0, 2, 2);
  // Spilled: freed as well.
  pages.markSpilled(2);
  pages.preserve(6);
  pages.preserve(7);
  pages.preserve(8);
  CHECK(pages.pagesSavedInPool() == 7);  // 6, 7 and 8 reused the three freed
  pages.preserve(9);                     // the pool is full again
  CHECK(pages.pagesSavedInPool() == 7);
  for (size_t i = 6; i < 10; i++) fillPage(base + i * kPage, i, 1);
  for (size_t i : {3, 4, 5, 6, 7, 8, 9}) CHECK(takenHolds(i));
  pages.releaseShadow(3, 7, 7);
  CHECK(pages.shadowPages() == 0);
  // The peak: the pool and the three pages of their own (4, 5 and 9).
  CHECK(pages.peakExtraBytes() == 7 * kPage);
}

// The fault path under test: userfaultfd's (nullptr where it is unavailable) or mprotect's.
std::unique_ptr<WriteProtection> faultPathFor(CapturedPages& pages, const std::string& which) {
  if (which == "mprotect") return std::make_unique<SignalProtection>(pages);
  return uffdProtectionOrNone(pages);
}

TEST_CASE("A write preserves its own page, and a run upwards as many pages ahead as lie behind it") {
  std::string which;
  SUBCASE("under userfaultfd") {
    which = "userfaultfd";
  }
  SUBCASE("under mprotect") {
    which = "mprotect";
  }
  Memory m;
  uintptr_t b = reinterpret_cast<uintptr_t>(m.base);
  CapturedPages pages({{b, b + 96 * kPage}});
  std::unique_ptr<WriteProtection> protection = faultPathFor(pages, which);
  if (!protection) return;
  // Scattered writes, three in one 32-page block: each preserves its own page only.
  for (size_t i : {size_t(35), size_t(41), size_t(52)}) fillPage(m.page(i), i, 1);
  CHECK(pages.pagesSaved() == 3);
  // A run upwards: five pages written preserve eight (faults at 65, 66, 67 and 69).
  for (size_t i = 65; i <= 69; i++) fillPage(m.page(i), i, 1);
  CHECK(pages.pagesSaved() == 3 + 8);
  // The writer finds every page as of the capture: preserved ones in their shadow.
  std::vector<uint8_t> out(kPage);
  size_t wrong = 0;
  for (size_t i = 0; i < 96; i++) {
    CapturedPages::Taken taken = pages.take(i, out.data());
    bool preserved = (i == 35 || i == 41 || i == 52 || (i >= 65 && i < 73));
    CHECK((taken == CapturedPages::Taken::Shadow) == preserved);
    if (!pageHolds(out.data(), i, 0)) wrong++;
  }
  CHECK(wrong == 0);
  protection->finish();
  for (size_t i : {size_t(35), size_t(65), size_t(69)}) CHECK(pageHolds(m.page(i), i, 1));
}

TEST_CASE("A dense sweep of writes a few pages apart takes blocks from its third close fault on") {
  std::string which;
  SUBCASE("under userfaultfd") {
    which = "userfaultfd";
  }
  SUBCASE("under mprotect") {
    which = "mprotect";
  }
  Memory m;
  uintptr_t b = reinterpret_cast<uintptr_t>(m.base);
  CapturedPages pages({{b, b + 256 * kPage}});
  std::unique_ptr<WriteProtection> protection = faultPathFor(pages, which);
  if (!protection) return;
  // Three and four pages apart, upwards, as the first scavenge after a pause writes into
  // the objects it moves out of eden: faults at 2, 6 and 9 take their own page, the one
  // at 13 pages 13-44, and so on.
  std::vector<size_t> written;
  for (size_t i = 2, k = 0; i < 200; i += (k++ % 2 ? 3 : 4)) written.push_back(i);
  for (size_t i : written) fillPage(m.page(i), i, 1);
  MESSAGE("written: ", written.size(), " pages, saved: ", pages.pagesSaved());
  CHECK(pages.pagesSaved() >= 180);
  std::vector<uint8_t> out(kPage);
  size_t wrong = 0;
  for (size_t i = 0; i < 256; i++) {
    CapturedPages::Taken taken = pages.take(i, out.data());
    if (i == 3 || i == 7 || i == 12) CHECK(taken == CapturedPages::Taken::Page);      // before the sweep's blocks
    if (i == 14 || i == 30 || i == 44) CHECK(taken == CapturedPages::Taken::Shadow);  // in the first block
    if (!pageHolds(out.data(), i, 0)) wrong++;
  }
  CHECK(wrong == 0);
  protection->finish();
  for (size_t i : written) CHECK(pageHolds(m.page(i), i, 1));
}

TEST_CASE("A busy program's cow writer holds the busy rate; an idle program's does not wait, nor does one waited for") {
  constexpr size_t kPages = 8192;  // 32 MiB
  void* p = mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  uint8_t* base = static_cast<uint8_t*>(p);
  for (size_t i = 0; i < kPages; i++) fillPage(base + i * kPage, i, 0);
  uintptr_t b = reinterpret_cast<uintptr_t>(base);
  TempDirectory dir;
  ScopedEnvironment rate("ESPELL_SNAPSHOT_BUSY_MIBS", "12");  // 32 MiB: about 2.7 seconds while busy
  PageWriter writer({{b, b + kPages * kPage}}, CaptureMode::Cow, dir.path);
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  PageWriteReport report;

  SUBCASE("busy: this thread, which captured, computes until the writer is done") {
    Clock::time_point start = Clock::now();
    writer.capture();
    volatile uint64_t x = 1;
    while (!writer.finished() && Clock::now() - start < std::chrono::seconds(20)) {
      for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ULL + 1;
    }
    double took = seconds(Clock::now() - start);
    report = writer.wait();
    MESSAGE("busy: ", took, " s, paced ", report.pacedMicros / 1000, " ms");
    // Unpaced: the batches written in the first window (ProgramActivity::restart: idle
    // until its 5 ms end, so that the pause's own work does not read as busy) and the
    // first of the busy stretch; the rest at 12 MiB/s, 42 ms a 512 KiB batch. A writer
    // never paced takes 0.03-0.1 s. The first window let 5 to 13 batches through (2.5 to
    // 6.5 MiB: the page cache takes them at 1 GB/s and more), which left an 8 MiB
    // capture's pacing between 0.4 and 1.6 s; here, if as many as 20 MiB went through it,
    // the other 12 MiB still take a second.
    CHECK(took >= 0.9);
    CHECK(report.pacedMicros >= 800000);
  }
  SUBCASE("idle: this thread sleeps until the writer is done") {
    Clock::time_point start = Clock::now();
    writer.capture();
    // Sleeps long between looks: a thread waking often may be seen waiting to run (busy)
    // where other work takes the cores.
    while (!writer.finished()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    double took = seconds(Clock::now() - start);
    report = writer.wait();
    MESSAGE("idle: ", took, " s, paced ", report.pacedMicros / 1000, " ms");
    // At most the first window reads capture()'s own work as busy: one batch's wait.
    CHECK(report.pacedMicros < 150000);
  }
  SUBCASE("waited for: wait() lifts the pacing of a busy program at once") {
    ScopedEnvironment slow("ESPELL_SNAPSHOT_BUSY_MIBS", "1");  // some 30 s while busy
    Clock::time_point start = Clock::now();
    writer.capture();
    volatile uint64_t x = 1;
    while (Clock::now() - start < std::chrono::milliseconds(200)) x = x * 6364136223846793005ULL + 1;
    CHECK_FALSE(writer.finished());
    Clock::time_point waited = Clock::now();
    report = writer.wait();
    double took = seconds(Clock::now() - waited);
    MESSAGE("waited for: ", took, " s after 0.2 s busy, paced ", report.pacedMicros / 1000, " ms");
    CHECK(took < 3.0);
  }
  std::string bytes = onlySegmentFile(report, dir.path, kPages);
  CHECK(report.segments[0].sha256 == sha256Hex(bytes));
  CHECK(pagesNotAsFilled(bytes) == 0);
  munmap(p, kPages * kPage);
}

TEST_CASE("A busy program's cow writer takes the pages it may not pace (a nursery) at once, then holds the rate") {
  constexpr size_t kPages = 4096;      // 16 MiB
  constexpr size_t kUnpaced = 2048;    // the first 8 MiB
  constexpr size_t kPacedLate = 3800;  // 14.8 MiB: at 1 MiB/s, not reached in two seconds
  FilledPages m(kPages);
  TempDirectory dir;
  ScopedEnvironment rate("ESPELL_SNAPSHOT_BUSY_MIBS", "1");
  // Under SCHED_IDLE the writer would wait for a core this thread and the other tests
  // leave free: at the same niceness it shares them.
  ScopedEnvironment nice("ESPELL_SNAPSHOT_NICE", "0");
  PageWriter writer({m.range(0, kPages)}, CaptureMode::Cow, dir.path, kUnpaced);
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();
  writer.capture();
  // Busy for two seconds: paced from the first page, the writer would have written 2-3 MiB.
  volatile uint64_t x = 1;
  while (Clock::now() - start < std::chrono::seconds(2)) {
    for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ULL + 1;
  }
  // The last pages of the unpaced part are written already: writing them saves nothing.
  // Those far into the paced part are not: each write saves its page.
  for (size_t i = kUnpaced - 256; i < kUnpaced; i++) fillPage(m.page(i), i, 1);
  for (size_t i = kPacedLate; i < kPacedLate + 16; i++) fillPage(m.page(i), i, 1);
  PageWriteReport report = writer.wait();
  CHECK(report.pagesSavedByCow == 16);
  std::string bytes = onlySegmentFile(report, dir.path, kPages);
  CHECK(pagesNotAsFilled(bytes) == 0);
}

TEST_CASE("Background threads run under SCHED_IDLE, or at ESPELL_SNAPSHOT_NICE's niceness") {
  auto policyAndNice = [] {
    std::pair<int, int> seen;
    std::thread t([&] {
      lowerThreadPriority();
      seen = {sched_getscheduler(0), getpriority(PRIO_PROCESS, id_t(gettid()))};
    });
    t.join();
    return seen;
  };
  CHECK(policyAndNice().first == SCHED_IDLE);
  {
    // At least: a test run already niced further keeps its niceness (raising it back needs privilege).
    ScopedEnvironment nice("ESPELL_SNAPSHOT_NICE", "15");
    std::pair<int, int> lowered = policyAndNice();
    CHECK(lowered.first == SCHED_OTHER);
    CHECK(lowered.second >= 15);
  }
  ScopedEnvironment idle("ESPELL_SNAPSHOT_NICE", "idle");
  CHECK(policyAndNice().first == SCHED_IDLE);
}

TEST_CASE("Whoever waits raises a snapshot's background threads back to the program's priority") {
  BackgroundThreads group;  // of this thread, at its niceness
  const std::pair<int, int> program{SCHED_OTHER, getpriority(PRIO_PROCESS, id_t(gettid()))};
  auto policyAndNice = [] { return std::pair{sched_getscheduler(0), getpriority(PRIO_PROCESS, id_t(gettid()))}; };
  std::atomic<int> lowered{0};  // members that have looked at their priority
  std::atomic<bool> raised{false};
  std::pair<int, int> before, after, startedBefore, startedAfter, joinedLate;
  auto lookTwice = [&](std::pair<int, int>& first, std::pair<int, int>& second) {
    first = policyAndNice();
    lowered++;
    while (!raised.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    second = policyAndNice();
  };
  std::thread member([&] {
    BackgroundThreads::Member self(&group);
    // A thread started by a member joins its group, as the writer's hasher and io do.
    std::thread started([&, inherited = BackgroundThreads::current()] {
      BackgroundThreads::Member self(inherited);
      lookTwice(startedBefore, startedAfter);
    });
    lookTwice(before, after);
    started.join();
  });
  while (lowered.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  bool raisedAll = group.raise();
  raised = true;
  member.join();
  std::thread late([&] {
    BackgroundThreads::Member self(&group);
    joinedLate = policyAndNice();
  });
  late.join();
  CHECK(before.first == SCHED_IDLE);
  CHECK(startedBefore.first == SCHED_IDLE);
  if (!BackgroundThreads::mayRaise()) {
    MESSAGE("this process may not raise a thread's priority (no CAP_SYS_NICE, RLIMIT_NICE too low)");
    CHECK_FALSE(raisedAll);
    return;
  }
  CHECK(raisedAll);
  CHECK(after == program);
  CHECK(startedAfter == program);
  CHECK(joinedLate == program);  // never lowered once the group is raised
}

// The ids of this process's threads named `name` (space/ThreadName.h).
std::vector<pid_t> threadsNamed(const std::string& name) {
  std::vector<pid_t> found;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) found.push_back(pid_t(std::stol(task.path().filename())));
  }
  return found;
}

// The scheduling policy of the one thread named `name`, once it exists (-1 if it never does).
int policyOfThread(const std::string& name) {
  for (int tries = 0; tries < 5000; tries++) {
    std::vector<pid_t> ids = threadsNamed(name);
    if (ids.size() == 1) return sched_getscheduler(ids[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return -1;
}

TEST_CASE(
    "A cow writer takes the pages it may not pace at the program's priority, then lowers itself and its threads") {
  constexpr size_t kPages = 4096;    // 16 MiB
  constexpr size_t kUnpaced = 2048;  // the first 8 MiB
  ScopedEnvironment idle("ESPELL_SNAPSHOT_NICE", "idle");
  {
    // Nothing unpaced: lowered from the start.
    FilledPages m(kPages);
    TempDirectory dir;
    CowCapture::holdWritersForTests = true;  // the writer waits before its first batch
    PageWriter writer({m.range(0, kPages)}, CaptureMode::Cow, dir.path);
    writer.capture();
    CHECK(policyOfThread("snap-copy") == SCHED_IDLE);
    CHECK(policyOfThread("snap-hash") == SCHED_IDLE);
    CowCapture::holdWritersForTests = false;
    writer.wait();
  }
  FilledPages m(kPages);
  TempDirectory dir;
  ScopedEnvironment rate("ESPELL_SNAPSHOT_BUSY_MIBS", "1");  // the paced part: 8 s while this thread is busy
  CowCapture::holdWritersForTests = true;
  PageWriter writer({m.range(0, kPages)}, CaptureMode::Cow, dir.path, kUnpaced);
  writer.capture();
  CHECK(policyOfThread("snap-copy") == SCHED_OTHER);
  CHECK(policyOfThread("snap-hash") == SCHED_OTHER);  // started by the writer, in its group
  CowCapture::holdWritersForTests = false;
  // Busy, so that the paced part is paced: the threads are still there once lowered.
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();
  volatile uint64_t x = 1;
  int writerPolicy = SCHED_OTHER;
  while (writerPolicy == SCHED_OTHER && Clock::now() - start < std::chrono::seconds(20)) {
    for (int i = 0; i < 100000; i++) x = x * 6364136223846793005ULL + 1;
    writerPolicy = policyOfThread("snap-copy");
  }
  CHECK(writerPolicy == SCHED_IDLE);
  CHECK(policyOfThread("snap-hash") == SCHED_IDLE);
  // Lowered once past the unpaced pages: they are written (writing them saves nothing).
  for (size_t i = kUnpaced - 64; i < kUnpaced; i++) fillPage(m.page(i), i, 1);
  PageWriteReport report = writer.wait();
  CHECK(report.pagesSavedByCow == 0);
  std::string bytes = onlySegmentFile(report, dir.path, kPages);
  CHECK(pagesNotAsFilled(bytes) == 0);
}

TEST_CASE("A capture large enough for 1 MiB batches (buffers in huge pages) writes the memory as of capture") {
  constexpr size_t kPages = 65536;  // 256 MiB: the least that gets 1 MiB batches
  CowCapture::Batches batches = CowCapture::batchesFor(kPages);
  REQUIRE(batches.pages == CowCapture::kMaxBatchPages);
  REQUIRE(batches.pages * batches.buffers * kPage % space::Reservation::kHugePageSize == 0);  // whole huge pages
  void* p = mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  uint8_t* base = static_cast<uint8_t*>(p);
  constexpr size_t kEvery = 16;  // pages written before the capture; the rest are holes
  for (size_t i = 0; i < kPages; i += kEvery) fillPage(base + i * kPage, i, 0);
  uintptr_t b = reinterpret_cast<uintptr_t>(base);
  TempDirectory dir;
  PageWriter writer({{b, b + kPages * kPage}}, CaptureMode::Cow, dir.path);
  writer.capture();
  for (size_t i = kPages - kEvery; i >= kPages / 2; i -= 2 * kEvery) fillPage(base + i * kPage, i, 1);
  PageWriteReport report = writer.wait();
  REQUIRE(report.segments.size() == 1);
  CHECK(report.segments[0].bytes == kPages * kPage);
  int fd = open((dir.path + "/" + report.segments[0].file).c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  Sha256 digest;
  std::vector<uint8_t> page(kPage);
  const std::vector<uint8_t> zeros(kPage, 0);
  size_t wrong = 0;
  for (size_t i = 0; i < kPages; i++) {
    REQUIRE(pread(fd, page.data(), kPage, off_t(i * kPage)) == ssize_t(kPage));
    digest.add(page.data(), kPage);
    bool right = i % kEvery == 0 ? pageHolds(page.data(), i, 0) : page == zeros;
    if (!right) wrong++;
  }
  close(fd);
  CHECK(wrong == 0);
  CHECK(report.segments[0].sha256 == Sha256::hex(digest.finish()));
  size_t lost = 0;
  for (size_t i = kPages - kEvery; i >= kPages / 2; i -= 2 * kEvery) lost += !pageHolds(base + i * kPage, i, 1);
  CHECK(lost == 0);
  munmap(p, kPages * kPage);
}

TEST_CASE("Cow capture by mprotect writes the memory as of capture") {
  ScopedEnvironment forced("ESPELL_SNAPSHOT_PROTECTION", "mprotect");
  PageWriteReport report = captureWhileWriting(CaptureMode::Cow);
  CHECK(report.protection == "mprotect");
  CHECK(report.pagesSavedByCow > 0);
}

TEST_CASE("Copy capture writes the memory as of capture") {
  PageWriteReport report = captureWhileWriting(CaptureMode::Copy);
  CHECK(report.protection == "copy");
  CHECK(report.peakExtraBytes == report.bytesWritten);
}

TEST_CASE("Fork capture writes the memory as of capture") {
  PageWriteReport report = captureWhileWriting(CaptureMode::Fork);
  CHECK(report.protection == "fork");
  CHECK(report.peakExtraBytes > 0);
}

namespace {

// A capture whose second file cannot be created (a directory stands in its place).
void failingCapture(CaptureMode mode) {
  Memory m;
  TempDirectory dir;
  REQUIRE(mkdir((dir.path + "/segment-1.bin").c_str(), 0755) == 0);
  PageWriter writer(m.ranges, mode, dir.path);
  writer.capture();
  fillPage(m.page(Memory::kPages - 1), Memory::kPages - 1, 5);
  std::string error;
  try {
    writer.wait();
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  CHECK(error.find(dir.path + "/segment-1.bin") != std::string::npos);
  CHECK(error.find("errno") != std::string::npos);
  CHECK(writer.finished());
  for (size_t i = 0; i < Memory::kPages - 1; i++) REQUIRE(pageHolds(m.page(i), i, 0));
  CHECK(pageHolds(m.page(Memory::kPages - 1), Memory::kPages - 1, 5));
  writeEveryPage(m);
}

}  // namespace

TEST_CASE("A file that cannot be written is reported by name and leaves the memory unharmed") {
  SUBCASE("cow") {
    failingCapture(CaptureMode::Cow);
  }
  SUBCASE("cow by mprotect") {
    ScopedEnvironment forced("ESPELL_SNAPSHOT_PROTECTION", "mprotect");
    failingCapture(CaptureMode::Cow);
  }
  SUBCASE("copy") {
    failingCapture(CaptureMode::Copy);
  }
  SUBCASE("fork") {
    failingCapture(CaptureMode::Fork);
  }
  SUBCASE("missing directory") {
    Memory m;
    PageWriter writer(m.ranges, CaptureMode::Cow, "/nonexistent/espell-pagewriter");
    writer.capture();
    CHECK_THROWS_WITH_AS(writer.wait(), doctest::Contains("/nonexistent/espell-pagewriter/segment-0.bin"),
                         std::runtime_error);
    writeEveryPage(m);
  }
}

TEST_CASE("A writer that fails while another thread keeps writing stops protecting with no write lost") {
  // The failure comes at segment 1 (a directory stands at its name), while a thread
  // sweeps its 16,384 protected pages: the protection is lifted while that thread's
  // faults are being handled.
  constexpr size_t kFirst = 16, kSecond = 16384;
  FilledPages memory(kFirst + kSecond);
  uint8_t* base = memory.base;
  TempDirectory dir;
  REQUIRE(mkdir((dir.path + "/segment-1.bin").c_str(), 0755) == 0);
  PageWriter writer({memory.range(0, kFirst), memory.range(kFirst, kFirst + kSecond)}, CaptureMode::Cow, dir.path);
  writer.capture();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sweeps{0};
  std::thread program([&] {
    for (uint64_t generation = 1; !stop.load(); generation++) {
      for (size_t i = kFirst; i < kFirst + kSecond; i++) fillPage(base + i * kPage, i, generation);
      sweeps.store(generation);
    }
  });
  CHECK_THROWS_WITH_AS(writer.wait(), doctest::Contains("segment-1.bin"), std::runtime_error);
  stop = true;
  program.join();
  MESSAGE("the program swept the pages ", sweeps.load(), " times");
  size_t wrong = 0;
  for (size_t i = kFirst; i < kFirst + kSecond; i++) wrong += !pageHolds(base + i * kPage, i, sweeps.load());
  CHECK(wrong == 0);
}

TEST_CASE("A WriteTracker and a capture by mprotect protect different memory at once") {
  ScopedEnvironment forced("ESPELL_SNAPSHOT_PROTECTION", "mprotect");
  void* p = mmap(nullptr, 16 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  uint8_t* tracked = static_cast<uint8_t*>(p);
  for (size_t i = 0; i < 16; i++) fillPage(tracked + i * kPage, i, 0);
  uintptr_t t = reinterpret_cast<uintptr_t>(tracked);
  space::MemoryRange trackedRange{t, t + 16 * kPage};
  {
    space::WriteTracker tracker({&trackedRange, 1});
    Memory m;
    TempDirectory dir;
    PageWriter writer(m.ranges, CaptureMode::Cow, dir.path);
    writer.capture();
    fillPage(tracked + 3 * kPage, 3, 9);
    fillPage(m.page(Memory::kPages - 1), Memory::kPages - 1, 9);
    PageWriteReport report = writer.wait();
    std::string last = readFile(dir.path + "/" + report.segments.back().file);
    CHECK(pageHolds(reinterpret_cast<const uint8_t*>(last.data()) + last.size() - kPage, Memory::kPages - 1, 0));
    CHECK(pageHolds(tracked + 3 * kPage, 3, 9));
    tracker.restore();
  }
  CHECK(pageHolds(tracked + 3 * kPage, 3, 0));
  munmap(p, 16 * kPage);
}

TEST_CASE("By mprotect, past the bound on runs of pages made writable alone, a write waits for the writer instead") {
  constexpr size_t kPages = 256;
  constexpr size_t kBound = 4;
  FilledPages memory(kPages);
  uint8_t* base = memory.base;
  CapturedPages pages({memory.range(0, kPages)});
  SignalProtection protection(pages, kBound);
  // The program writes every sixth page of the last ones, far ahead of the writer: each
  // page a run of its own (too far apart for a dense sweep, DenseSweep.h).
  std::thread program([&] {
    for (size_t i = kPages - 120; i < kPages; i += 6) fillPage(base + i * kPage, i, 1);
  });
  // Saved alone up to the bound; the next write waits (and saves nothing more meanwhile).
  for (int i = 0; i < 2000 && pages.pagesSaved() < kBound; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(pages.pagesSaved() == kBound);
  CHECK(protection.writerAwaited());
  // The writer, in batches of 16 pages.
  std::vector<uint8_t> buffer(16 * kPage);
  size_t wrong = 0;
  for (size_t first = 0; first < kPages; first += 16) {
    for (size_t i = 0; i < 16; i++) {
      pages.take(first + i, buffer.data() + i * kPage);
      if (!pageHolds(buffer.data() + i * kPage, first + i, 0)) wrong++;
    }
    protection.written(first, 16);
  }
  program.join();
  protection.finish();
  CHECK(wrong == 0);
  CHECK(!protection.writerAwaited());
  CHECK(protection.writesWaited() >= 1);
  // Once the writer merged the first ones back, the program may have saved more ahead of it.
  CHECK(pages.pagesSaved() >= kBound);
  for (size_t i = kPages - 120; i < kPages; i += 6) CHECK(pageHolds(base + i * kPage, i, 1));
}

TEST_CASE("By mprotect, a run of writes upwards takes as many pages ahead as lie behind it, all one run") {
  constexpr size_t kPages = 256;
  FilledPages memory(kPages);
  uint8_t* base = memory.base;
  CapturedPages pages({memory.range(0, kPages)});
  SignalProtection protection(pages, 1);  // one run at most: a run upwards never waits
  for (size_t i = 100; i < 164; i++) fillPage(base + i * kPage, i, 1);
  // Faults at 100, 101, 102, 104, 108, 116 and 132, taking 1, 1, 2, 4, 8, 16 and 32 pages.
  CHECK(pages.pagesSaved() == 64);
  CHECK(protection.writesWaited() == 0);
  std::vector<uint8_t> buffer(kPage);
  std::thread writer([&] {
    while (!protection.writerAwaited()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (size_t p = 0; p < kPages; p++) {
      pages.take(p, buffer.data());
      protection.written(p, 1);
    }
  });
  fillPage(base + 200 * kPage, 200, 1);  // a second run: past the bound of one, it waits for the writer
  writer.join();
  protection.finish();
  CHECK(protection.writesWaited() == 1);
  for (size_t i = 100; i < 164; i++) CHECK(pageHolds(base + i * kPage, i, 1));
}

TEST_CASE("Segments finished on their own thread while newer ones are written keep their order, sizes and checksums") {
  TempDirectory dir;
  std::vector<SegmentFile> done;
  std::vector<std::string> contents;
  {
    HashThread hasher;
    PendingSegments pending(done);
    for (size_t i = 0; i < 3 * PendingSegments::kMaxPending; i++) {
      std::string bytes((i % 3 + 1) * kPage, char('a' + i % 26));
      bytes[i] = 'X';
      contents.push_back(bytes);
      auto out = std::make_unique<SegmentOutput>(dir.path, "segment-" + std::to_string(i), bytes.size(), hasher);
      out->append(contents.back().data(), bytes.size());
      pending.add(std::move(out), uintptr_t(i) * 0x10000);  // finished on its thread meanwhile
    }
    pending.finishAll();
  }
  REQUIRE(done.size() == contents.size());
  for (size_t i = 0; i < done.size(); i++) {
    CAPTURE(i);
    CHECK(done[i].file == "segment-" + std::to_string(i));
    CHECK(done[i].start == uintptr_t(i) * 0x10000);
    CHECK(done[i].bytes == contents[i].size());
    CHECK(done[i].sha256 == sha256Hex(contents[i]));
    CHECK(readFile(dir.path + "/" + done[i].file) == contents[i]);
  }
}

TEST_CASE("Segments handed over by a writer that stops are closed without being finished") {
  TempDirectory dir;
  std::vector<SegmentFile> done;
  // The data appended stays unchanged until it is hashed, as append() asks.
  std::vector<std::string> contents;
  for (size_t i = 0; i < 3; i++) contents.emplace_back(kPage, char('a' + i));
  {
    HashThread hasher;
    PendingSegments pending(done);
    for (size_t i = 0; i < 3; i++) {
      const std::string& bytes = contents[i];
      auto out = std::make_unique<SegmentOutput>(dir.path, "segment-" + std::to_string(i), bytes.size(), hasher);
      out->append(bytes.data(), bytes.size());
      pending.add(std::move(out), uintptr_t(i) * 0x10000);
    }
  }  // no finishAll: the destructor neither hangs nor throws
  CHECK(done.size() <= 3);
  // What was finished before the end is a prefix, in order, with its true checksum.
  for (size_t i = 0; i < done.size(); i++) {
    CHECK(done[i].file == "segment-" + std::to_string(i));
    CHECK(done[i].sha256 == sha256Hex(contents[i]));
  }
  // Every file is there, whole: closed, not left half written.
  for (size_t i = 0; i < 3; i++) CHECK(readFile(dir.path + "/segment-" + std::to_string(i)) == contents[i]);
}

namespace {

// Captures 1024 pages of which only the even ones were ever written, while the program
// then writes some of the odd ones (never touched at the capture) and reads others: the
// files hold the even pages and zeros, the odd pages never touched are left as holes
// where the pages' state can be read, and the memory holds the later writes.
void captureUntouchedPages() {
  constexpr size_t kPages = 1024;
  void* p = mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  uint8_t* base = static_cast<uint8_t*>(p);
  for (size_t i = 0; i < kPages; i += 2) fillPage(base + i * kPage, i, 0);
  uintptr_t b = reinterpret_cast<uintptr_t>(base);
  TempDirectory dir;
  PageWriter writer({{b, b + kPages * kPage}}, CaptureMode::Cow, dir.path);
  writer.capture();
  // Far ahead of the writer: the last odd pages written, some others only read.
  volatile uint8_t sink = 0;
  for (size_t i = kPages - 1; i > kPages - 64; i -= 2) fillPage(base + i * kPage, i, 1);
  for (size_t i = 501; i < 601; i += 2) sink = sink + base[i * kPage];
  PageWriteReport report = writer.wait();
  MESSAGE("protection: ", report.protection, ", holes: ", report.holeBytes / kPage, " pages");
  REQUIRE(report.segments.size() == 1);
  std::string bytes = readFile(dir.path + "/" + report.segments[0].file);
  REQUIRE(bytes.size() == kPages * kPage);
  CHECK(report.segments[0].sha256 == sha256Hex(bytes));
  const std::string zeros(kPage, '\0');
  size_t wrong = 0;
  for (size_t i = 0; i < kPages; i++) {
    const uint8_t* page = reinterpret_cast<const uint8_t*>(bytes.data()) + i * kPage;
    bool right = i % 2 == 0 ? pageHolds(page, i, 0) : std::memcmp(page, zeros.data(), kPage) == 0;
    if (!right) wrong++;
  }
  CHECK(wrong == 0);
  // At most the odd pages are holes; with the mprotect fallback, or with the privilege to
  // read userfaultfd's marks, those neither written nor read before the writer came are
  // (512 odd pages, 32 written and 50 read: reading a page never touched populates it).
  CHECK(report.holeBytes <= kPages / 2 * kPage);
  if (report.protection == "mprotect" || geteuid() == 0) CHECK(report.holeBytes >= (kPages / 2 - 32 - 50) * kPage);
  struct stat st {};
  REQUIRE(stat((dir.path + "/" + report.segments[0].file).c_str(), &st) == 0);
  CHECK(size_t(st.st_blocks) * 512 <= kPages * kPage - report.holeBytes + 64 * 1024);
  for (size_t i = kPages - 1; i > kPages - 64; i -= 2) CHECK(pageHolds(base + i * kPage, i, 1));
  for (size_t i = 0; i < kPages; i++) base[i * kPage + 1] ^= 0;  // every page writable again
  munmap(p, kPages * kPage);
}

}  // namespace

TEST_CASE("Cow capture leaves pages never touched as holes of zeros, also those written after the capture") {
  captureUntouchedPages();
}

TEST_CASE("Cow capture by mprotect leaves pages never touched as holes of zeros") {
  ScopedEnvironment forced("ESPELL_SNAPSHOT_PROTECTION", "mprotect");
  captureUntouchedPages();
}

TEST_CASE("PageResidence tells pages never touched from written ones, and anonymous memory from a file's") {
  PageResidence residence;
  REQUIRE(residence.usable());
  constexpr size_t kPages = 64;
  void* p = mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  uint8_t* base = static_cast<uint8_t*>(p);
  for (size_t i = 0; i < kPages; i += 3) base[i * kPage] = 1;
  uintptr_t b = reinterpret_cast<uintptr_t>(base);
  CHECK(PageResidence::anonymous(b, b + kPages * kPage));
  bool empty[kPages];
  REQUIRE(residence.unpopulated(b, kPages, empty));
  for (size_t i = 0; i < kPages; i++) CHECK(empty[i] == (i % 3 != 0));
  munmap(p, kPages * kPage);

  // A file's pages never touched hold the file's bytes: not anonymous.
  TempDirectory dir;
  std::string path = dir.path + "/file";
  int fd = open(path.c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, kPages * kPage) == 0);
  void* f = mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  REQUIRE(f != MAP_FAILED);
  uintptr_t fb = reinterpret_cast<uintptr_t>(f);
  CHECK_FALSE(PageResidence::anonymous(fb, fb + kPages * kPage));
  CHECK_FALSE(PageResidence::anonymous(fb + kPage, fb + 2 * kPage));
  munmap(f, kPages * kPage);
  close(fd);
}

TEST_CASE("SegmentOutput leaves the zero pages of a new file as holes, and writes them over an old one") {
  TempDirectory dir;
  constexpr size_t kPages = 64;
  std::string bytes(kPages * kPage, '\0');
  bool zero[kPages];
  for (size_t i = 0; i < kPages; i++) {
    zero[i] = i % 4 != 0;
    if (!zero[i]) std::memset(bytes.data() + i * kPage, int('a' + i % 26), kPage);
  }
  std::string old(kPages * kPage, 'o');
  {
    int fd = open((dir.path + "/old").c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, old.data(), old.size()) == ssize_t(old.size()));
    close(fd);
  }
  std::vector<SegmentFile> files;
  {
    HashThread hasher;
    for (const char* name : {"new", "old"}) {
      SegmentOutput out(dir.path, name, bytes.size(), hasher);
      out.append(bytes.data(), bytes.size() / 2, zero);
      out.append(bytes.data() + bytes.size() / 2, bytes.size() / 2, zero + kPages / 2);
      CHECK(out.holeBytes() == (std::string(name) == "new" ? kPages * 3 / 4 * kPage : 0));
      files.push_back(out.finish(0));
    }
  }
  for (const SegmentFile& f : files) {
    CAPTURE(f.file);
    CHECK(readFile(dir.path + "/" + f.file) == bytes);
    CHECK(f.sha256 == sha256Hex(bytes));
  }
  struct stat st {};
  REQUIRE(stat((dir.path + "/new").c_str(), &st) == 0);
  CHECK(size_t(st.st_blocks) * 512 < bytes.size());
}

TEST_CASE("WriteThread writes in the order queued, and reports the first failure by file") {
  TempDirectory dir;
  std::string path = dir.path + "/file";
  int fd = open(path.c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  std::vector<std::string> pieces;
  for (int i = 0; i < 64; i++) pieces.push_back(std::string(1000, char('a' + i % 26)));
  {
    WriteThread io;
    uint64_t last = 0;
    // Every piece overlaps the next: only the order queued gives the expected file.
    for (size_t i = 0; i < pieces.size(); i++) last = io.add(fd, pieces[i].data(), pieces[i].size(), i * 500, path);
    io.waitFor(last);
    CHECK_NOTHROW(io.check());
    std::string expected;
    for (size_t i = 0; i < pieces.size(); i++) expected = expected.substr(0, i * 500) + pieces[i];
    CHECK(readFile(path) == expected);

    // A write O_DIRECT refuses (not aligned) turns O_DIRECT off and is written.
    int direct = open((dir.path + "/direct").c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0644);
    if (direct >= 0) {
      std::string odd = "not aligned for O_DIRECT";
      io.waitFor(io.add(direct, odd.data() + 1, odd.size() - 1, 3, path));
      CHECK_NOTHROW(io.check());
      CHECK((fcntl(direct, F_GETFL) & O_DIRECT) == 0);
      close(direct);
      CHECK(readFile(dir.path + "/direct") == std::string(3, '\0') + odd.substr(1));
    }

    int readOnly = open(path.c_str(), O_RDONLY);
    REQUIRE(readOnly >= 0);
    std::string other = dir.path + "/read-only";
    io.add(readOnly, pieces[0].data(), pieces[0].size(), 0, other);
    io.waitForAll();
    try {
      io.check();
      FAIL("a write to a read-only descriptor succeeded");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find("cannot write " + other) == 0);
    }
    close(readOnly);
  }
  close(fd);
}

TEST_CASE("SegmentOutput writes with O_DIRECT on a WriteThread from aligned buffers, and without it otherwise") {
  TempDirectory dir;
  constexpr size_t kPages = 32;
  void* p = mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  uint8_t* data = static_cast<uint8_t*>(p);
  for (size_t i = 0; i < kPages; i++) fillPage(data + i * kPage, i, 0);
  std::string all(reinterpret_cast<const char*>(data), kPages * kPage);
  std::vector<SegmentFile> files;
  {
    HashThread hasher;
    WriteThread io;
    {
      SegmentOutput out(dir.path, "aligned", kPages * kPage, hasher, &io, FileWrites::Direct);
      for (size_t i = 0; i < kPages; i += 8) out.append(data + i * kPage, 8 * kPage);
      MESSAGE("O_DIRECT on this file system: ", out.direct());
      files.push_back(out.finish(0));
    }
    {
      // A write of an odd size (the last one) turns O_DIRECT off; the bytes are the same.
      SegmentOutput out(dir.path, "unaligned", kPages * kPage, hasher, &io, FileWrites::Direct);
      out.append(data, kPage);
      out.append(data + kPage, kPages * kPage - kPage - 100);
      out.append(data + kPages * kPage - 100, 100);
      CHECK_FALSE(out.direct());
      files.push_back(out.finish(0));
    }
  }
  for (const SegmentFile& f : files) {
    CAPTURE(f.file);
    CHECK(readFile(dir.path + "/" + f.file) == all);
    CHECK(f.sha256 == sha256Hex(all));
  }
  munmap(p, kPages * kPage);
}
