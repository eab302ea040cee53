// DenseSweep: recognizes a dense sweep of first writes — faults each a few pages from the
// last in one range, not continuing a run upwards (space/RunAhead.h). The first scavenge
// after a snapshot's pause makes one, writing a forwarding pointer into each object it
// moves out of a full captured eden (in a busy hub one every 14 KB: 1,792 single-page
// faults in 400 ms, docs/PERFORMANCE.md). From its kFaults-th fault on, the fault path
// takes a block of pages at each; eden is rewritten whole before long, so they are not
// copied for nothing. Scattered writes farther apart keep taking their own page. Both
// fault paths use it (UffdProtection, SignalProtection).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace image {

class DenseSweep {
 public:
  static constexpr size_t kGapPages = 4;
  static constexpr size_t kFaults = 3;

  // A fault at `page` of `range`: whether it continues a dense sweep. One within
  // kGapPages of the last fault's pages counts, one just above them (a run) leaves the
  // count as it is, any other ends the sweep.
  bool continues(size_t range, size_t page) {
    size_t last = lastPage_.load(std::memory_order_relaxed);
    size_t faults = faults_.load(std::memory_order_relaxed);
    if (range != range_.load(std::memory_order_relaxed)) {
      range_.store(range, std::memory_order_relaxed);
      faults = 0;
    } else if (page != last + 1) {
      size_t distance = page > last ? page - last : last - page;
      faults = distance <= kGapPages ? faults + 1 : 0;
    }
    faults_.store(faults, std::memory_order_relaxed);
    return faults >= kFaults;
  }
  // The last page the fault took.
  void took(size_t lastPage) { lastPage_.store(lastPage, std::memory_order_relaxed); }

 private:
  // Relaxed atomics: SignalProtection's faults come from any thread, and two at once only
  // misjudge one fault.
  std::atomic<size_t> range_{SIZE_MAX};
  std::atomic<size_t> lastPage_{0};
  std::atomic<size_t> faults_{0};
};

}  // namespace image
