// ArmedProtection: a copy-on-write capture's write-protection, set up ahead of its pause.
// Protecting 1 GiB of 4 KiB pages takes 40-60 ms on this machine kind (110-165 ns a page,
// by userfaultfd or by mprotect alike); made in the pause, it is the pause. Armed instead
// while the program runs on, on a thread of its own, the pages are protected by the time
// the program is asked to pause. A write meanwhile only marks its block of kBlockPages
// pages written and lifts that block's protection (nothing is saved: the capture has not
// begun). The capture (capture()) then protects, in the pause, only the blocks written
// since and the memory the ranges grew by.
//
// Two mechanisms, as for the capture itself (WriteProtection.h): UffdArming, taken over by
// UffdProtection, and SignalArming (mprotect and SIGSEGV), taken over by SignalProtection,
// where userfaultfd is unavailable. armProtection() picks the one protectPages() would.
//
// The armed memory must stay mapped until the capture: its owner disarms (destroys this)
// before releasing or reusing any of it — a full collection does, through
// space::Space::setSnapshotArming.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "image/PageWriter.h"

namespace image {

class CapturedPages;
class WriteProtection;

class ArmedProtection {
 public:
  static constexpr size_t kBlockPages = 32;  // 128 KiB: the unit a write before the pause unprotects
  // Protected per call, so that the program's own mapping changes (which wait for each
  // call) are never held up for long. Whole blocks from each range's start.
  static constexpr size_t kProtectChunkBytes = size_t(4) << 20;
  static_assert(kProtectChunkBytes % (kBlockPages * PageWriter::kPageSize) == 0);

  // Stops protecting and lifts every protection (derived classes, which own the
  // mechanism, do that first).
  virtual ~ArmedProtection();
  ArmedProtection(const ArmedProtection&) = delete;
  ArmedProtection& operator=(const ArmedProtection&) = delete;

  virtual const char* name() const = 0;
  // Every range is protected (or protecting failed; capture() then throws).
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // How long protecting took, once ready().
  int64_t armMicros() const { return armMicros_.load(std::memory_order_relaxed); }

  // In the pause (no thread of the program writes): waits until ready(), stops tracking
  // writes and takes `pages` over: a protection of the capture's own, which protects what
  // the arming does not cover and the blocks written since, and lifts the protection of
  // armed memory outside `pages`. Throws std::runtime_error when protecting failed or the
  // kernel refuses what the pause adds; nothing is protected then. Once only.
  virtual std::unique_ptr<WriteProtection> capture(CapturedPages& pages) = 0;

  // What an arming hands to the capture that takes it over.
  struct Handover {
    std::vector<PageRange> armed;    // normalized
    std::vector<PageRange> written;  // normalized: the blocks written since they were protected
    int64_t armMicros = 0;
  };

 protected:
  // Raises space::capturesActive (beforeKernelWrite must see it before any page is
  // protected); the derived constructor then starts its fault path and startProtecting().
  explicit ArmedProtection(std::vector<PageRange> ranges);
  // Starts the protector thread: it first faults in the pages of `populate` (outside the
  // ranges; empty if none), memory the program is about to write in its pause, then
  // protects the ranges chunk by chunk with protect().
  void startProtecting(PageRange populate);
  // Stops the protector thread (at its next chunk) and joins it. Derived destructors call
  // it before anything protect() uses goes away.
  void stopProtecting();
  // Joins the protector thread once it has protected everything.
  void waitUntilProtected();
  // Protects [start, start + bytes), within one range; throws std::runtime_error.
  virtual void protect(uintptr_t start, size_t bytes) = 0;

  const std::vector<PageRange>& ranges() const { return ranges_; }
  // A block of an armed range: the range's index and the block's memory.
  struct Block {
    size_t range = 0;
    size_t index = 0;
    uintptr_t start = 0;
    uintptr_t end = 0;
  };
  // The block holding `address`; false if no range holds it. Signal safe.
  bool blockAt(uintptr_t address, Block* block) const;
  // Marks a block written, or all of a range's blocks. Signal safe; any thread.
  void markWritten(const Block& block);
  void markRangeWritten(size_t range);
  // Once the fault path has stopped: the blocks written, to hand over. Throws
  // std::runtime_error when protecting failed.
  Handover handOverBlocks();

 private:
  void protectAll(PageRange populate);

  std::vector<PageRange> ranges_;              // normalized
  std::vector<std::vector<uint8_t>> written_;  // per range, per block: 1 once written (std::atomic_ref)
  std::thread protector_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopProtecting_{false};
  std::atomic<int64_t> armMicros_{0};
  std::string failure_;  // set by the protector before ready_ when protecting failed
};

// Arms by userfaultfd where the kernel allows it and the environment does not force
// mprotect (ESPELL_SNAPSHOT_PROTECTION=mprotect), else by mprotect: the mechanism
// protectPages() would choose. Throws std::runtime_error when neither can arm (nothing
// is protected then; the capture protects in its pause).
std::unique_ptr<ArmedProtection> armProtection(std::vector<PageRange> ranges, PageRange populate = {});

// What the pause changes to take an arming over for `ranges` (normalized): memory the
// ranges grew by since the arming, then the written blocks (close ones coalesced, see
// ArmedProtection.cpp) to protect; armed memory the capture does not take to unprotect.
struct PauseProtection {
  std::vector<PageRange> grown;
  std::vector<PageRange> writtenAgain;
  std::vector<PageRange> released;
  size_t pagesToProtect() const;
};
PauseProtection pauseProtection(const std::vector<PageRange>& ranges, const ArmedProtection::Handover& armed);

}  // namespace image
