// WriteTracker: copy-on-write tracking of memory by page protection. While a tracker is
// active its ranges are read-only; the first write to a page faults, the fault handler
// saves the page's contents and makes it writable again, and the write proceeds. So the
// cost is one fault and one page copy per page written, however large the ranges are.
// restore() copies every saved page back: the ranges hold exactly what they held when
// tracking began. Destroying the tracker without restore() keeps the writes (commit).
//
// This is the page half of a checkpoint of a space (see Space::Checkpoint): Chester
// rolls a failed update back with it.
//
// Faults arrive as SIGSEGV on the thread that writes; the process-wide handler of
// WriteFaults.h serves every tracker and passes faults outside tracked ranges on (a real
// crash stays a crash; sanitizers keep theirs). The handler only copies memory and makes
// system calls (mmap, mprotect), so it is safe to run at any instruction.
//
// Each page made writable again splits the protected mapping, and the kernel caps
// mappings per process (vm.max_map_count, 65530 by default): after kMaxScatteredPages
// saved pages the tracker saves every page it has not saved yet at once and unprotects
// whole ranges, a full copy that stays correct at any size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "space/WriteFaults.h"

namespace space {

struct MemoryRange {
  uintptr_t start = 0;  // page aligned
  uintptr_t end = 0;    // page aligned, exclusive
};

class WriteTracker final : private WriteFaultOwner {
 public:
  static constexpr size_t kPageSize = 4096;
  static constexpr size_t kMaxScatteredPages = 16384;

  // Starts tracking writes to `ranges` (page-aligned, committed, not overlapping any range
  // another active tracker covers). Throws std::runtime_error when protection fails.
  explicit WriteTracker(std::span<const MemoryRange> ranges);
  // Stops tracking: every range is writable again and the saved pages are freed.
  ~WriteTracker();
  WriteTracker(const WriteTracker&) = delete;
  WriteTracker& operator=(const WriteTracker&) = delete;

  // Writes every saved page back (the ranges are as they were when tracking began) and
  // stops tracking.
  void restore();
  // Stops tracking and keeps what was written.
  void release();

  bool active() const { return active_; }
  size_t pagesTracked() const { return pagesTracked_; }
  size_t pagesSaved() const { return savedCount_; }
  bool copiedEverything() const { return copiedAll_; }
  // Whether a fault at `address` belongs to this tracker (and was handled).
  bool handleFault(uintptr_t address);

 private:
  bool handleWriteFault(uintptr_t address) override { return handleFault(address); }

  struct Range {
    MemoryRange memory;
    std::vector<uint8_t> saved;  // one byte per page: 1 once saved (sized up front)
  };
  // A saved page: where it lives and its contents before the first write.
  struct SavedPage {
    uintptr_t page;
    alignas(16) uint8_t data[kPageSize];
  };
  // Saved pages live in chunks mapped on demand (mmap is safe in a signal handler).
  struct Chunk {
    Chunk* next;
    size_t used;
    static constexpr size_t kPages = 255;
    SavedPage pages[kPages];
  };

  bool savePage(Range& r, size_t index);
  SavedPage* newSavedPage();
  void saveAllRemaining();
  void unprotectAll();
  void freeChunks();

  std::vector<Range> ranges_;
  Chunk* chunks_ = nullptr;
  size_t savedCount_ = 0;
  size_t pagesTracked_ = 0;
  bool copiedAll_ = false;
  bool active_ = false;
};

}  // namespace space
