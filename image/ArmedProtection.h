// ArmedProtection: a copy-on-write capture's write-protection, set up ahead of its pause.
// Protecting 1 GiB of 4 KiB pages by userfaultfd takes 40-60 ms on this machine kind
// (110-165 ns a page); made in the pause, it is the pause. Armed instead while the
// program runs on, on a thread of its own, the pages are protected by the time the
// program is asked to pause. A write meanwhile only marks its block of kBlockPages pages
// written and lifts that block's protection (nothing is saved: the capture has not
// begun). The capture (UffdProtection's armed constructor) then protects, in the pause,
// only the blocks written since and the memory the ranges grew by.
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
#include "image/Userfaultfd.h"

namespace image {

class ArmedProtection {
 public:
  static constexpr size_t kBlockPages = 32;  // 128 KiB: the unit a write before the pause unprotects
  // Protected per call, so that the program's own mapping changes (which wait for each
  // call) are never held up for long.
  static constexpr size_t kProtectChunkBytes = size_t(4) << 20;

  // Registers `ranges` and starts protecting them on a thread of its own; that thread
  // first faults in the pages of `populate` (outside the ranges; empty if none), memory
  // the program is about to write in its pause. Throws std::runtime_error when userfaultfd
  // write-protection is unavailable (nothing is protected then).
  explicit ArmedProtection(std::vector<PageRange> ranges, PageRange populate = {});
  // Not handed over: stops and lifts every protection.
  ~ArmedProtection();
  ArmedProtection(const ArmedProtection&) = delete;
  ArmedProtection& operator=(const ArmedProtection&) = delete;

  // Every range is protected (or protecting failed; handOver() then throws).
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // How long protecting took, once ready().
  int64_t armMicros() const { return armMicros_.load(std::memory_order_relaxed); }

  struct Handover {
    std::unique_ptr<Userfaultfd> descriptor;  // the armed ranges registered with it
    std::vector<PageRange> armed;             // normalized
    std::vector<PageRange> written;           // normalized: the blocks written since they were protected
    int64_t armMicros = 0;
  };
  // In the pause (no thread of the program writes): waits until ready(), stops tracking
  // writes and hands the descriptor over; every armed page outside `written` is
  // protected and has not been written since. Throws std::runtime_error when protecting
  // failed (everything is unprotected then). Once only.
  Handover handOver();

 private:
  void protectAll(PageRange populate);
  void onWrite(uintptr_t page);
  void stopThreads();

  std::unique_ptr<Userfaultfd> descriptor_;
  std::vector<PageRange> ranges_;              // normalized
  std::vector<std::vector<uint8_t>> written_;  // per range, per block: 1 once written (service thread only)
  std::thread protector_;
  std::thread service_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopProtecting_{false};
  std::atomic<int64_t> armMicros_{0};
  std::string failure_;  // set by the protector before ready_ when protecting failed
};

}  // namespace image
