// CowCapture: see CowCapture.h.
#include "image/CowCapture.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "image/HashThread.h"
#include "image/PageResidence.h"
#include "image/PendingSegments.h"
#include "image/SegmentOutput.h"
#include "space/KernelWrites.h"
#include "space/Reservation.h"

namespace image {

namespace {

constexpr size_t kPage = CapturedPages::kPageSize;

// The writer's batch buffers, mapped rather than allocated: page aligned, and given back
// whole. Where they fill whole huge pages they are aligned to them and asked for them
// (MADV_HUGEPAGE): each 1 MiB batch is then physically contiguous, one segment of an
// O_DIRECT request instead of 256 pages (this machine kind's disk takes at most 254
// segments a request), and idle 1 GiB snapshots wrote 8-34% faster in four alternating
// rounds (docs/PERFORMANCE.md). Smaller buffers keep small pages: a huge page would hold
// memory the capture does not count.
class Buffer {
 public:
  explicit Buffer(size_t bytes) {
    bool huge = bytes % kHugePage == 0;
    mapped_ = bytes + (huge ? kHugePage : 0);  // room to align
    void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("cannot map the writer's buffer");
    base_ = static_cast<uint8_t*>(p);
    data_ = base_;
    if (huge) {
      data_ = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(base_) + kHugePage - 1) & ~(kHugePage - 1));
      madvise(data_, bytes, MADV_HUGEPAGE);  // a hint: small pages still work
    }
  }
  ~Buffer() { munmap(base_, mapped_); }
  uint8_t* data() { return data_; }

 private:
  static constexpr size_t kHugePage = space::Reservation::kHugePageSize;
  size_t mapped_;
  uint8_t* base_;  // as mapped
  uint8_t* data_;  // the buffers: base_, or its first huge-page boundary
};

}  // namespace

CowCapture::CowCapture(const std::vector<PageRange>& ranges, const std::string& directory,
                       std::unique_ptr<ArmedProtection> armed, size_t unpacedPages)
    : directory_(directory), unpacedPages_(unpacedPages), pages_(ranges) {
  // Raised before any page is protected: beforeKernelWrite must see it first.
  space::capturesActive.fetch_add(1);
  // Twice what the writer lets pile up before it spills: past that the program waits for
  // the writer to spill, not for it to catch up.
  pages_.boundShadow(2 * spillAtPages(pages_.pageCount()));
  // As many as the writer lets pile up before it spills: 1/256 of the capture at most,
  // and at most 1 MiB, resident for the whole snapshot.
  pages_.reservePool(spillAtPages(pages_.pageCount()));
  try {
    protection_ = protectPages(pages_, std::move(armed));
    protectionName_ = protection_->name();
    writer_ = std::make_unique<WriterThread>(
        [this](std::vector<SegmentFile>& segments, const std::atomic<bool>& stop) { writeAll(segments, stop); },
        [this] { stopProtecting(); }, unpacedPages_ > 0 ? Lowering::WhenAsked : Lowering::AtOnce);
  } catch (...) {
    if (protection_) protection_->finish();
    space::capturesActive.fetch_sub(1);
    throw;
  }
}

CowCapture::Batches CowCapture::batchesFor(size_t pages) {
  size_t budget = pages / 128;  // pages of buffers
  if (budget >= kMinBuffers * kMaxBatchPages) return {kMaxBatchPages, std::min(budget / kMaxBatchPages, kMaxBuffers)};
  size_t batch = kMaxBatchPages;
  while (batch > kMinBatchPages && kMinBuffers * batch > budget) batch /= 2;
  return {batch, kMinBuffers};
}

CowCapture::~CowCapture() {
  writer_.reset();
}

void CowCapture::writeAll(std::vector<SegmentFile>& segments, const std::atomic<bool>& stop) {
  // Closing the spill file frees its blocks, which on a file system mounted with `discard`
  // waits for the disk (90 ms here): done by the writer, however it leaves, not by the
  // thread that destroys the capture (the program's).
  struct SpillClosed {
    CowCapture& capture;
    ~SpillClosed() {
      capture.spill_.reset();
      capture.spillSlot_.clear();
    }
  } spillClosed{*this};
  auto started = std::chrono::steady_clock::now();
  // Batches rotate through the buffers, so that one can wait to be hashed and written while
  // the next is filled. Declared before the hasher: they outlive its last job.
  const Batches batches = batchesFor(pages_.pageCount());
  const size_t spillAt = spillAtPages(pages_.pageCount());
  Buffer buffers(batches.buffers * batches.pages * kPage);
  pages_.addExtraBytes(batches.buffers * batches.pages * kPage);
  pages_.warmPool();
  SegmentOutput::Tickets ticketOf[kMaxBuffers] = {};  // the hash job and write last reading each buffer
  size_t batchNumber = 0;
  HashThread hasher;
  WriteThread io;
  PendingSegments written(segments);  // after the hasher and io: its files use them
  const char* forced = std::getenv("ESPELL_SNAPSHOT_WRITES");
  FileWrites writes = forced && std::strcmp(forced, "buffered") == 0 ? FileWrites::Buffered : FileWrites::Direct;
  PageResidence residence;  // pages never touched are left as holes, not read
  WritePacing pacing(WritePacing::busyBytesPerSecondFromEnvironment());
  while (holdWritersForTests.load() && !stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  programActivity_.restart();
  // The unpaced pages at the program's priority, the rest in the background.
  auto lowerPast = [this, lowered = unpacedPages_ == 0](size_t pagesDone) mutable {
    if (lowered || pagesDone < unpacedPages_) return;
    lowered = true;
    BackgroundThreads::current()->lower();
  };
  for (size_t r = 0; r < pages_.ranges().size(); r++) {
    size_t first = pages_.firstPage(r);
    size_t count = pages_.pagesOf(r);
    const PageRange& range = pages_.ranges()[r];
    bool anonymous = residence.usable() && PageResidence::anonymous(range.start, range.end);
    auto output = std::make_unique<SegmentOutput>(directory_, segmentFileName(r), count * kPage, hasher, &io, writes);
    SegmentOutput& out = *output;
    for (size_t done = 0; done < count; batchNumber++) {
      if (stop.load(std::memory_order_relaxed)) return;
      size_t batch = std::min(batches.pages, count - done);
      size_t slot = batchNumber % batches.buffers;
      uint8_t* buffer = buffers.data() + slot * batches.pages * kPage;
      bool zero[kMaxBatchPages] = {};
      if (anonymous && !residence.unpopulated(pages_.address(first + done), batch, zero))
        std::fill_n(zero, batch, false);
      if (pages_.shadowPages() >= spillAt && !spillOff_) spillFrom(first + done + batch);
      hasher.waitFor(ticketOf[slot].hashed);
      io.waitFor(ticketOf[slot].written);
      size_t fromShadow = 0;
      for (size_t i = 0; i < batch; i++) {
        size_t page = first + done + i;
        CapturedPages::Taken taken = pages_.take(page, buffer + i * kPage, zero[i]);
        fromShadow += taken == CapturedPages::Taken::Shadow;
        zero[i] = taken == CapturedPages::Taken::Zeros;
        if (taken == CapturedPages::Taken::Spilled) {
          auto it = spillSlot_.find(page);
          spill_->read(it->second, buffer + i * kPage);
          spillSlot_.erase(it);
        }
      }
      ticketOf[slot] = out.append(buffer, batch * kPage, zero);
      protection_->written(first + done, batch);
      if (fromShadow) pages_.releaseShadow(first + done, batch, fromShadow);
      done += batch;
      pagesTaken_.store(first + done, std::memory_order_release);
      lowerPast(first + done);
      if (first + done > unpacedPages_) pace(pacing, batch * kPage, first + done, spillAt, stop);
    }
    holeBytes_ += out.holeBytes();
    directWrites_ = directWrites_ || out.direct();
    written.add(std::move(output), range.start);
  }
  io.waitForAll();
  cachedMicros_ =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  written.finishAll();
}

void CowCapture::spillFrom(size_t from) {
  if (!spill_) {
    try {
      spill_ = std::make_unique<SpillFile>(directory_);
    } catch (const std::runtime_error&) {
      spillOff_ = true;
      pages_.boundShadow(SIZE_MAX);  // nothing would make room
      return;
    }
  }
  constexpr size_t kGroup = 64;  // pages written by one pwritev
  size_t group[kGroup];
  const uint8_t* copies[kGroup];
  for (size_t p = pages_.nextSaved(from); p < pages_.pageCount();) {
    size_t n = 0;
    for (; n < kGroup && p < pages_.pageCount(); p = pages_.nextSaved(p + 1)) {
      group[n] = p;
      copies[n++] = pages_.shadowOf(p);
    }
    size_t slot;
    try {
      slot = spill_->append(copies, n);
    } catch (const std::runtime_error&) {
      spillOff_ = true;  // these copies stay where they are
      pages_.boundShadow(SIZE_MAX);
      return;
    }
    for (size_t i = 0; i < n; i++) {
      spillSlot_.emplace(group[i], slot + i);
      pages_.markSpilled(group[i]);
    }
    pagesSpilled_ += n;
  }
}

void CowCapture::pace(WritePacing& pacing, size_t bytes, size_t nextPage, size_t spillAt,
                      const std::atomic<bool>& stop) {
  using Clock = WritePacing::Clock;
  constexpr auto kStep = std::chrono::milliseconds(2);  // how soon a wait sees a spill due or an idle program
  Clock::time_point began = Clock::now();
  Clock::time_point until =
      pacing.after(bytes, !hurry_.load() && !protection_->writerAwaited() && programActivity_.busy(), began);
  for (Clock::time_point now = began; now < until; now = Clock::now()) {
    if (stop.load(std::memory_order_relaxed) || hurry_.load() || protection_->writerAwaited()) break;
    if (pages_.shadowPages() >= spillAt && !spillOff_) spillFrom(nextPage);
    if (!programActivity_.busy()) {
      pacing.after(0, false, now);  // idle again: the writer goes as fast as it can
      break;
    }
    std::this_thread::sleep_until(std::min(until, now + kStep));
  }
  pacedMicros_ += std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - began).count();
}

// The writer's last act, done or failed: every page writable again.
void CowCapture::stopProtecting() {
  pages_.boundShadow(SIZE_MAX);  // first: a fault waiting for room would hold finish() up
  protection_->finish();
  pagesTaken_.store(pages_.pageCount(), std::memory_order_release);
  space::capturesActive.fetch_sub(1);
}

bool CowCapture::needs(uintptr_t start, uintptr_t end) const {
  size_t last = pages_.lastPageIn(start, end);
  return last != CapturedPages::kNone && last >= pagesTaken_.load(std::memory_order_acquire);
}

bool CowCapture::finished() {
  return writer_->finished();
}

PageWriteReport CowCapture::wait() {
  hurry();
  writer_->raisePriority();  // the program's thread waits for it from here on
  writer_->join();
  PageWriteReport report;
  report.mode = CaptureMode::Cow;
  report.protection = protectionName_;
  report.pagesWritten = pages_.pageCount();
  report.pagesSavedByCow = pages_.pagesSaved();
  report.zeroPagesSaved = pages_.zeroPagesSaved();
  report.pagesSpilled = pagesSpilled_;
  report.savesWaited = pages_.savesWaited() + protection_->writesWaited();
  report.pacedMicros = pacedMicros_;
  report.armMicros = protection_->armMicros();
  report.pagesProtectedInPause = protection_->pagesProtectedInPause();
  report.peakExtraBytes = pages_.peakExtraBytes();
  report.bytesWritten = pages_.pageCount() * kPage;
  report.holeBytes = holeBytes_;
  report.cachedMicros = cachedMicros_;
  report.directWrites = directWrites_;
  report.writeMicros = writer_->micros();
  report.segments = writer_->segments();
  return report;
}

}  // namespace image
