// ArmedProtection: see ArmedProtection.h.
#include "image/ArmedProtection.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "image/PageRanges.h"
#include "image/SignalArming.h"
#include "image/UffdArming.h"
#include "space/KernelWrites.h"
#include "space/ThreadName.h"

namespace image {

namespace {

constexpr size_t kPage = PageWriter::kPageSize;
constexpr size_t kBlockBytes = ArmedProtection::kBlockPages * kPage;

// Each protection call ends with a TLB flush, which on a virtual machine costs about 100
// us — as much as walking some 400 pages that are protected already. So blocks written
// close together in one armed range are protected again in one call, the pages between
// them included (still protected since the arming: protecting them changes nothing).
constexpr size_t kCoalesceGapBytes = size_t(1) << 20;

std::vector<PageRange> coalesced(const std::vector<PageRange>& written, const std::vector<PageRange>& armed) {
  std::vector<PageRange> out;
  size_t a = 0;
  size_t lastArmed = SIZE_MAX;  // the armed range holding out.back()
  for (const PageRange& w : written) {
    while (a < armed.size() && armed[a].end <= w.start) a++;
    bool inArmed = a < armed.size() && armed[a].start <= w.start && w.end <= armed[a].end;
    if (inArmed && !out.empty() && lastArmed == a && w.start - out.back().end <= kCoalesceGapBytes) {
      out.back().end = w.end;
    } else {
      out.push_back(w);
      lastArmed = inArmed ? a : SIZE_MAX;
    }
  }
  return out;
}

size_t pagesIn(const std::vector<PageRange>& ranges) {
  size_t pages = 0;
  for (const PageRange& r : ranges) pages += (r.end - r.start) / kPage;
  return pages;
}

}  // namespace

ArmedProtection::ArmedProtection(std::vector<PageRange> ranges) : ranges_(normalizedRanges(std::move(ranges))) {
  for (const PageRange& r : ranges_) written_.emplace_back((r.end - r.start + kBlockBytes - 1) / kBlockBytes, 0);
  space::capturesActive.fetch_add(1);
}

ArmedProtection::~ArmedProtection() {
  stopProtecting();
  space::capturesActive.fetch_sub(1);
}

void ArmedProtection::startProtecting(PageRange populate) {
  protector_ = std::thread([this, populate] {
    space::nameThisThread("arm-protect");
    protectAll(populate);
  });
}

void ArmedProtection::stopProtecting() {
  stopProtecting_.store(true, std::memory_order_relaxed);
  if (protector_.joinable()) protector_.join();
}

void ArmedProtection::waitUntilProtected() {
  if (protector_.joinable()) protector_.join();  // it finishes its ranges: nothing asks it to stop
}

void ArmedProtection::protectAll(PageRange populate) {
  auto start = std::chrono::steady_clock::now();
#ifdef MADV_POPULATE_WRITE
  if (populate.end > populate.start) {
    // Only faults the pages in (as writing each would, without changing a byte): the
    // program may be writing them meanwhile. Failure costs the pause page faults, no more.
    madvise(reinterpret_cast<void*>(populate.start), populate.end - populate.start, MADV_POPULATE_WRITE);
  }
#else
  (void)populate;
#endif
  try {
    for (const PageRange& r : ranges_) {
      for (uintptr_t a = r.start; a < r.end; a += kProtectChunkBytes) {
        if (stopProtecting_.load(std::memory_order_relaxed)) break;
        protect(a, std::min<uintptr_t>(kProtectChunkBytes, r.end - a));
      }
    }
  } catch (const std::exception& e) {
    failure_ = e.what();
  }
  armMicros_.store(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count(),
      std::memory_order_relaxed);
  ready_.store(true, std::memory_order_release);
}

bool ArmedProtection::blockAt(uintptr_t address, Block* block) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                             [](uintptr_t a, const PageRange& r) { return a < r.start; });
  if (it == ranges_.begin() || address >= (it - 1)->end) return false;
  const PageRange& r = *(it - 1);
  block->range = size_t(it - 1 - ranges_.begin());
  block->index = (address - r.start) / kBlockBytes;
  block->start = r.start + block->index * kBlockBytes;
  block->end = std::min<uintptr_t>(block->start + kBlockBytes, r.end);
  return true;
}

void ArmedProtection::markWritten(const Block& block) {
  std::atomic_ref<uint8_t>(written_[block.range][block.index]).store(1, std::memory_order_relaxed);
}

void ArmedProtection::markRangeWritten(size_t range) {
  for (uint8_t& b : written_[range]) std::atomic_ref<uint8_t>(b).store(1, std::memory_order_relaxed);
}

ArmedProtection::Handover ArmedProtection::handOverBlocks() {
  if (!failure_.empty()) throw std::runtime_error(failure_);
  Handover h;
  h.armMicros = armMicros();
  for (size_t i = 0; i < ranges_.size(); i++) {
    const PageRange& r = ranges_[i];
    for (size_t b = 0; b < written_[i].size(); b++) {
      if (!std::atomic_ref<uint8_t>(written_[i][b]).load(std::memory_order_relaxed)) continue;
      uintptr_t start = r.start + b * kBlockBytes;
      uintptr_t end = std::min<uintptr_t>(start + kBlockBytes, r.end);
      if (!h.written.empty() && h.written.back().end == start) {
        h.written.back().end = end;
      } else {
        h.written.push_back(PageRange{start, end});
      }
    }
  }
  h.armed = ranges_;
  return h;
}

std::unique_ptr<ArmedProtection> armProtection(std::vector<PageRange> ranges, PageRange populate) {
  const char* forced = std::getenv("ESPELL_SNAPSHOT_PROTECTION");
  if (!forced || std::strcmp(forced, "mprotect") != 0) {
    try {
      return std::make_unique<UffdArming>(ranges, populate);
    } catch (const std::runtime_error&) {
      // Not offered here (old kernel, no permission, seccomp): mprotect works everywhere.
    }
  }
  return std::make_unique<SignalArming>(std::move(ranges), populate);
}

size_t PauseProtection::pagesToProtect() const {
  return pagesIn(grown) + pagesIn(writtenAgain);
}

PauseProtection pauseProtection(const std::vector<PageRange>& ranges, const ArmedProtection::Handover& armed) {
  PauseProtection p;
  p.grown = rangesMinus(ranges, armed.armed);
  p.writtenAgain = rangesIntersection(coalesced(armed.written, armed.armed), ranges);
  p.released = rangesMinus(armed.armed, ranges);
  return p;
}

}  // namespace image
