// WriteTracker: copy-on-write tracking of memory by page protection. While a tracker is
// active its ranges are read-only; the first write to a page faults, the fault handler
// saves the page's contents and makes it writable again, and the write proceeds. So the
// cost is one fault and one page copy per page written, however large the ranges are.
// restore() copies every saved page back: the ranges hold exactly what they held when
// tracking began. Destroying the tracker without restore() keeps the writes (commit).
//
// Giving the pages their write permission back costs more than taking it (the kernel
// merges the mappings the saved pages split, and flushes TLBs), in proportion to the
// heap rather than to what was written. A checkpoint's end does it on another thread
// (releaseInBackground, on the process's PageReleaseThread) while the space runs on: until
// that job is done, a write to a page still read-only faults, and the handler only makes
// its block writable.
//
// Taking the write permission costs in proportion to the heap too, and it is in the
// pause. So a tracker can be armed ahead of the pause, while the program still runs:
// its ranges are protected then, and a write before the pause only makes its page
// writable again and marks it dirty (nothing is saved; a write that continues a run
// upwards marks as many pages ahead as the run has behind it, up to a block, and no page
// is marked that was not written otherwise: begin() copies each marked page, and one not
// written for long is slow to read on a virtual machine). begin(), in the pause, saves at
// once what is not protected and clean — the dirty pages and memory outside the armed
// ranges (eden filled since, a new segment, pages the arming left out) — into chunks of
// copies written before (prepareCopies', or those earlier trackers left mapped), and
// protects what they cannot hold, and tracking starts as above. A clean
// page was not written since it was protected, so it holds exactly what it holds at the
// pause.
//
// This is the page half of a checkpoint of a space (see Space::Checkpoint): Chester
// rolls a failed update back with it.
//
// Faults arrive as SIGSEGV on the thread that writes; the process-wide handler of
// WriteFaults.h serves every tracker and passes faults outside tracked ranges on (a real
// crash stays a crash; sanitizers keep theirs). The handler only copies memory and makes
// system calls (mmap, mprotect), so it is safe to run at any instruction.
//
// Writes come in runs (an instance migration or a rehash writes thousands of neighbouring
// objects), and a fault costs far more than copying a page. So the tracker saves by
// page at first and by block once a block has faulted twice: a third fault in a block
// of kBlockPages pages, next to a page saved already, saves every page of the block not
// saved yet and makes the whole block writable in one call. Scattered writes cost a page
// each (an update's few writes to method dictionaries and classes, often neighbours in
// one block, do not copy the block); runs cost three faults per block.
//
// Each run of saved pages made writable again splits the protected mapping in up to
// three (neighbouring runs merge), and the kernel caps mappings per process
// (vm.max_map_count, 65530 by default): once kMaxSavedRuns runs of saved pages lie
// apart, the tracker saves every page it has not saved yet at once and unprotects whole
// ranges, a full copy that stays correct at any size. Counting runs rather than pages
// matters: a migration's forwarders fill neighbouring pages by the thousand, one run,
// and a bound of 16,384 pages copied the whole heap once they passed 64 MiB.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "space/PageReleaseThread.h"
#include "space/WriteFaults.h"

namespace space {

struct MemoryRange {
  uintptr_t start = 0;  // page aligned
  uintptr_t end = 0;    // page aligned, exclusive
};

class WriteTracker final : private WriteFaultOwner {
 public:
  // An armed tracker stops: every range writable, no longer an owner or a capture. Its
  // memory must outlive any fault handler still running for it on another thread
  // (WriteFaults.h); the destructor disarms an armed tracker.
  void disarm();
  static constexpr size_t kPageSize = 4096;
  static constexpr size_t kMaxSavedRuns = 16384;
  static constexpr size_t kBlockPages = 32;  // 128 KiB: copying it costs about one fault

  // Starts tracking writes to `ranges` (page-aligned, committed, not overlapping any range
  // another active tracker covers). Throws std::runtime_error when protection fails.
  explicit WriteTracker(std::span<const MemoryRange> ranges);
  // Arms a tracker for `ranges` (see above), tracking from begin(). Protected now, or,
  // `inBackground`, by a job on the PageReleaseThread while the program runs on (first
  // faulting in `populate`, memory outside the ranges the pause will write; see
  // waitUntilArmed): protecting a heap of 12 MB took about 1 ms of the program's time
  // on this machine kind, and the program need not wait for it. A write to a page the
  // job has protected faults and is marked as any armed write is; one before
  // is in the page when it is protected.
  struct Armed {
    bool inBackground = false;
    MemoryRange populate{};
    // Pages of the pause's ranges left out of `ranges`, in address order (never
    // protected: begin() copies them, before any other page; see Space::armCheckpoint):
    // prepareCopies may write copies for them too.
    std::vector<MemoryRange> leftOut = {};
  };
  WriteTracker(std::span<const MemoryRange> ranges, Armed);
  // Waits for the background arming (and writeAhead's jobs); false when protecting
  // failed (the caller disarms: the ranges are then protected in full at the pause).
  bool waitUntilArmed();
  // Whether the background arming (and writeAhead's jobs) are done; never waits.
  bool armingDone() const { return armJob_ == 0 || PageReleaseThread::instance().finished(armJob_); }
  // Starts tracking `ranges` (those of the pause: the armed ones and whatever was added
  // since) on an armed tracker, once armed (waitUntilArmed). Throws std::runtime_error
  // when protection fails (nothing is protected then).
  void begin(std::span<const MemoryRange> ranges);
  bool armed() const { return armed_; }
  // Stops tracking: every range is writable again and the saved pages are freed.
  ~WriteTracker();
  WriteTracker(const WriteTracker&) = delete;
  WriteTracker& operator=(const WriteTracker&) = delete;

  enum class Release { Now, InBackground };
  // Writes every saved page back (the ranges are as they were when tracking began) and
  // stops tracking (release() or releaseInBackground()).
  void restore(Release how = Release::Now);
  // Stops tracking and keeps what was written.
  void release();
  // Same, but the ranges become writable on the PageReleaseThread; writes meanwhile take
  // a fault that makes their block writable. finishRelease() (or the destructor) waits
  // for that job. While it runs, system calls writing into the ranges must first touch
  // them from user mode (KernelWrites.h): it counts as a capture.
  void releaseInBackground();
  void finishRelease();
  bool releasing() const { return releasing_.load(std::memory_order_relaxed); }

  bool active() const { return active_; }
  size_t pagesTracked() const { return pagesTracked_; }
  size_t pagesSaved() const { return savedCount_; }
  size_t savedRuns() const { return savedRuns_; }
  size_t faultsTaken() const { return faults_; }
  bool copiedEverything() const { return copiedAll_; }
  // Chunks of saved copies a released tracker leaves for the next one (at most
  // kSpareChunks): memory written once before costs a copy, where fresh memory costs a
  // fault per page (on a virtual machine with shadow page tables, about 10 us each: 4 MiB
  // of saved pages took 6 ms fresh and 0.3 ms warm).
  static constexpr size_t kSpareChunks = 8;
  static size_t spareChunksKept();
  static bool spareChunkKept() { return spareChunksKept() > 0; }
  // Unmaps the spare chunks beyond the first `keep` (a space with nothing to run gives its
  // memory back; see Space::releaseMemoryWhileIdle), unless chunks are kept ready.
  static void releaseSpareChunks(size_t keep);
  // While a space keeps memory ready for updates (SpaceConfig::warmSpareSegment), the
  // pool is kept full: keepSpareChunksReady(true) fills it with written chunks on the
  // PageReleaseThread, and idle releases leave it alone (the pool is process-wide: an
  // idle hypervisor emptied it after every update of its guest, whose next checkpoint
  // then saved its pages into fresh memory, a fault per page). Calls nest.
  static void keepSpareChunksReady(bool keep);
  // Fills the pool now, on the calling thread (the job keepSpareChunksReady posts).
  static void fillSpareChunks();
  // Whether a fault at `address` belongs to this tracker (and was handled).
  bool handleFault(uintptr_t address);
  // Saves now the tracked pages at `pages` (page addresses, in any order, repeats
  // allowed) that are not saved yet, and makes them writable, for writes known to come by
  // the thousand (the forwarders of an instance migration): instead of three faults and
  // three protection calls per block, one call per run. Pages of one range up to
  // kAheadGapPages apart form one run, the pages between saved too: a page copy costs
  // far less than a protection call's TLB flush. Sorts `pages`. Does nothing unless
  // tracking; a page it could not save (out of memory) is left to its fault.
  void saveAhead(std::vector<uintptr_t>& pages);
  static constexpr size_t kAheadGapPages = 64;
  // What a background arming protects, and a background release unprotects, per call
  // (whole blocks; see the constructor). Each call holds the lock on the process's
  // mappings for writing, and every protection call and most page faults of the program
  // wait for it: around an update under load the program's thread waited 70-100 us at
  // the median with 4 MiB pieces, 25-40 us with 1 MiB (docs/PERFORMANCE.md).
  static constexpr size_t kArmPieceBytes = size_t(1) << 20;
  static_assert(kArmPieceBytes % (kBlockPages * kPageSize) == 0);
  // Armed: the pages at `pages` (page addresses, any order, repeats allowed) will be
  // written in the pause. They are marked written now and made writable outside the
  // pause (by a job after the arming's, when it is in the background), so begin() copies
  // them with the other dirty pages and the writes take no fault. Scattered writes known
  // before the pause (the inline caches an update clears, a page each) otherwise cost a
  // signal and a protection call each in the pause. Only the pages themselves are
  // marked, not their blocks; one the kernel would not unprotect stays marked and faults
  // once. Sorts `pages`; does nothing unless armed.
  void writeAhead(std::vector<uintptr_t>& pages);
  // Armed: marks the armed pages of `range` written and makes them writable at once, one
  // protection call per armed range it meets: a scavenge while armed writes the header of
  // every survivor in the nursery, a fault a page otherwise (2,350 faults, 20-34 ms in a
  // scavenge of the hub). A marked page the arming's job protects after this faults once
  // more, as any marked page. Does nothing unless armed.
  void markWritten(MemoryRange range);
  size_t pagesWrittenAhead() const { return writtenAhead_.size(); }
  // Armed: the pause will save about `pages` pages (an instance migration's, counted by
  // its census before the pause). Chunks for their copies are mapped and written now, by
  // a job on the PageReleaseThread (the pool of spare chunks stays for the pages the
  // running program writes while armed, which begin() copies: a busy service's nursery
  // took a fresh chunk or two, 512 faults, when the pool was counted in), so that saving
  // them in the pause costs a copy each; fresh memory costs a fault per page there (a
  // million-instance migration saved 19,536 pages in 127-175 ms of its pause, 33-34 ms
  // into chunks written before). Bounded by the pages tracked and those left out of the
  // arming (Armed::leftOut). begin() stops the job and
  // takes what it has written: the pause never waits for it. Chunks not used go to the
  // pool of spare chunks or back to the kernel. Once per arming.
  void prepareCopies(size_t pages);
  bool preparingDone() const;
  // Prepared chunks not taken yet (once preparingDone), and the pages saved into prepared
  // chunks.
  size_t chunksPrepared() const;
  size_t pagesSavedIntoPrepared() const { return savedIntoPrepared_; }

 private:
  bool handleWriteFault(uintptr_t address) override { return handleFault(address); }

  struct Range {
    MemoryRange memory;
    std::vector<uint8_t> saved;         // one byte per page: 1 once saved (armed: once writable)
    std::vector<uint8_t> blockFaulted;  // one byte per block of kBlockPages: faults taken, up to 2
                                        // (not counted while armed)
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
  static_assert(sizeof(Chunk) == size_t(1) << 20, "a chunk fills whole pages");

  void setRanges(std::span<const MemoryRange> ranges);
  // The range holding `address`, or nullptr.
  Range* rangeOf(uintptr_t address);
  bool savePage(Range& r, size_t index);
  // Saves the pages of block `block` not saved yet; answers false when out of memory.
  bool saveBlock(Range& r, size_t block);
  // Makes pages [first, first + count) of `r` writable; false when the kernel refuses.
  static bool unprotect(const Range& r, size_t first, size_t count);
  SavedPage* newSavedPage();
  void saveAllRemaining();
  // Every range writable, in calls of at most `pieceBytes` (on the PageReleaseThread,
  // beside the program; the program's own calls take whole ranges).
  void unprotectAll(size_t pieceBytes = SIZE_MAX);
  void freeChunks();
  // Maps a chunk and writes each of its pages from user mode; nullptr when out of memory
  // or when `stop` is set meanwhile.
  static Chunk* mapWrittenChunk(const std::atomic<bool>* stop = nullptr);

  std::vector<Range> ranges_;
  Chunk* chunks_ = nullptr;  // newest first
  // prepareCopies' chunks, written and not taken yet: filled by its job on the
  // PageReleaseThread, read by others only once that is done (preparingDone, or
  // stopPreparing, which begin() and disarm() call).
  Chunk* prepared_ = nullptr;
  size_t savedIntoPrepared_ = 0;
  bool newestChunkPrepared_ = false;          // chunks_ came from prepared_
  PageReleaseThread::Ticket prepareJob_ = 0;  // 0: none, or waited for
  std::atomic<bool> stopPreparing_{false};
  // Stops prepareCopies' job (it looks every 16 pages) and waits for it.
  void stopPreparing();
  // The first chunk of the last tracker released, kept mapped for the next one: copying a
  // page into memory touched before costs no page fault (of the kernel's, or, on a
  // virtual machine, of the hypervisor's). At most one, for the whole process.
  // Each slot holds a spare chunk or nullptr; taken and given with one atomic exchange
  // each (the fault handler takes them, the PageReleaseThread gives them back).
  static std::array<std::atomic<Chunk*>, kSpareChunks> spareChunks_;
  static std::atomic<int> spareChunksReadyKeepers_;  // see keepSpareChunksReady
  static Chunk* takeSpareChunk();
  static bool keepSpareChunk(Chunk* c);
  size_t savedCount_ = 0;
  size_t savedRuns_ = 0;  // maximal runs of saved pages in ranges_ (see kMaxSavedRuns)
  size_t faults_ = 0;
  size_t pagesTracked_ = 0;
  std::vector<MemoryRange> leftOut_;  // see Armed::leftOut
  bool copiedAll_ = false;
  bool active_ = false;
  bool armed_ = false;  // protected ahead of begin(); writes only mark blocks dirty
  // Armed: the pages writeAhead made writable, each marked in its range's `saved` (its
  // block is not); begin() copies them.
  std::vector<uintptr_t> writtenAhead_;
  // Armed in the background: the last job protecting or unprotecting the ranges (0:
  // none); until it is done only that thread changes their protection, besides the
  // program's own armed faults. `armFailure_` is set by the arming job when protecting
  // failed, read after waiting for it.
  PageReleaseThread::Ticket armJob_ = 0;
  std::string armFailure_;
  std::atomic<bool> releasing_{false};  // releaseInBackground's job has not been waited for
  PageReleaseThread::Ticket releaseJob_ = 0;
};

}  // namespace space
