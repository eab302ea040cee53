// PageWriter: streams a consistent copy of memory ranges to files while the program keeps
// writing them. The caller pauses its program, calls capture(), and resumes it at once;
// from then on the files come to hold the ranges exactly as they were at capture(),
// whatever the program writes meanwhile. This is the page engine of a snapshot of a
// running space: the image format (which ranges, what they mean) is built around it.
//
// Three ways to capture, one report:
// - Cow: the ranges are write-protected and a writer thread streams them; the program's
//   first write to a page the writer has not reached yet saves the page's original first
//   (copy-on-write), by userfaultfd write-protection or, where that is unavailable, by
//   mprotect and SIGSEGV (CowCapture.h). The pause costs the protection only.
// - Copy: capture() copies every range, a thread writes the copy. The pause costs a full
//   copy, and so does the memory.
// - Fork: capture() forks; the child writes the files from its copy-on-write view of the
//   memory and exits. The pause costs the fork (copying page tables).
//
// While a Cow capture runs, the program may write the ranges freely but must not discard
// or remap their pages (munmap, mremap, mprotect, madvise(MADV_DONTNEED) as a collector
// does to give memory back) before the writer has taken them (needs()): that would lose
// contents the writer has not taken yet. Call beforeKernelWrite on pages the kernel is to
// fill; it makes the capture save them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace image {

struct PageRange {
  uintptr_t start = 0;  // page aligned
  uintptr_t end = 0;    // page aligned, exclusive; the range is readable and writable now
};

enum class CaptureMode { Cow, Copy, Fork };

// One written range.
struct SegmentFile {
  std::string file;  // relative to the directory: "segment-<n>.bin" for the range at index n
  uintptr_t start = 0;
  size_t bytes = 0;
  std::string sha256;  // lowercase hex of the file's bytes
};

struct PageWriteReport {
  CaptureMode mode = CaptureMode::Cow;
  std::string protection;            // "userfaultfd", "mprotect", "copy", "fork"
  int64_t captureMicros = 0;         // time spent in capture(): the part of the pause this engine costs
  int64_t armMicros = 0;             // Cow armed ahead of the pause: how long protecting took while the program ran
  size_t pagesProtectedInPause = 0;  // Cow: every page, or when armed, those written or added since
  size_t pagesWritten = 0;
  size_t pagesSavedByCow = 0;  // pages the program wrote before the writer had them (Cow)
  size_t zeroPagesSaved = 0;   // of them, pages found all zeros: nothing copied (Cow)
  size_t pagesSpilled = 0;     // of them, copies moved to disk until the writer reached them (Cow)
  size_t savesWaited = 0;      // Cow: writes that waited for the writer to spill (the shadow was full) or,
                               // by mprotect past its bound on mappings, to write their page
  int64_t pacedMicros = 0;     // Cow: time the writer waited, holding its rate while the program was busy
  // Memory beyond the ranges the capture used at its peak: saved pages and the writer's
  // buffer (Cow), the copy (Copy), the child's private memory at its end (Fork).
  size_t peakExtraBytes = 0;
  size_t bytesWritten = 0;
  size_t holeBytes = 0;  // of them, pages never touched, left as holes in the files (Cow)
  // From capture() returning until the last write(2) returned: the data was in the page
  // cache, or with O_DIRECT on the disk but maybe in its volatile cache (before fsync).
  int64_t cachedMicros = 0;
  bool directWrites = false;          // Cow: the files were written with O_DIRECT
  int64_t writeMicros = 0;            // from capture() returning to the last byte written and fsynced
  std::vector<SegmentFile> segments;  // in the order of the ranges
};

class Capture;
class ArmedProtection;

class PageWriter {
 public:
  static constexpr size_t kPageSize = 4096;

  // `directory` exists; one file per range is written there ("segment-0.bin", ...). Cow
  // writes the first `unpacedPages` pages of the ranges without pacing itself
  // (WritePacing.h) and at the program's priority (BackgroundPriority.h): a space's
  // nursery, which the program's next scavenge writes throughout, a fault for every page
  // the writer has not written yet.
  PageWriter(std::vector<PageRange> ranges, CaptureMode mode, std::string directory, size_t unpacedPages = 0);
  // Waits for, or stops, the writer; every range is writable afterwards.
  ~PageWriter();
  PageWriter(const PageWriter&) = delete;
  PageWriter& operator=(const PageWriter&) = delete;

  // Call while the program is paused, once. From when it returns, the files will hold the
  // ranges' contents as of this call, whatever the program writes afterwards. Throws
  // std::runtime_error when the capture cannot start (nothing is protected then).
  // Cow may take `armed`, the protection set up ahead of the pause over the same ranges
  // (or most of them); the other modes drop it.
  void capture();
  void capture(std::unique_ptr<ArmedProtection> armed);
  // Whether the writer is done (or failed). Does not block.
  bool finished();
  // Blocks until the writer is done; every range is writable afterwards. Throws
  // std::runtime_error naming the file and errno when writing failed (disk full, ...).
  PageWriteReport wait();
  // The program needs the writer done soon: Cow stops pacing itself (WritePacing.h), as
  // when waited for. Does not block.
  void hurry();
  // Whether the capture still needs the contents of some page of [start, end) as of
  // capture(): Cow until its writer has written them (it writes the ranges in order),
  // the other modes never. Any thread.
  bool needs(uintptr_t start, uintptr_t end) const;

  // Call before the kernel writes into [p, p + n) on the program's behalf (read(2) or
  // recv(2) into a heap buffer): see space/KernelWrites.h. Costs one relaxed atomic load
  // when no capture is active.
  static void beforeKernelWrite(void* p, size_t n);

 private:
  std::vector<PageRange> ranges_;
  CaptureMode mode_;
  std::string directory_;
  size_t unpacedPages_ = 0;
  std::unique_ptr<Capture> capture_;  // null until capture()
  int64_t captureMicros_ = 0;
};

}  // namespace image
