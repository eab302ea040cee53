// UffdProtection: write-protection of a capture by userfaultfd (Userfaultfd.h). A write to
// a protected page blocks the writing thread in the kernel; the service thread preserves
// the page, then lifts its protection, which wakes the thread.
//
// Every fault holds the writing thread until the service thread has run. A write
// preserves its own page, or, continuing a run, as many pages ahead as the run has
// preserved behind it (space/RunAhead.h), and lifts their protection at once. Preserving
// a whole block at its second fault, as before, held the program while up to 32 pages
// were copied, most of them never written and long untouched, and they were the
// snapshot's extra memory. A dense sweep (DenseSweep.h) takes a block at each fault.
//
// Made in the pause, protecting every page is most of the pause (about 130 ns a page).
// Armed ahead of it (UffdArming.h), the pause protects only what was written since
// the arming and what the ranges grew by.
#pragma once

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "image/ArmedProtection.h"
#include "image/DenseSweep.h"
#include "image/Userfaultfd.h"
#include "image/WriteProtection.h"
#include "image/ZeroMappedBytes.h"

namespace image {

class UffdProtection : public WriteProtection {
 public:
  // Protects every page of `pages`. Throws std::runtime_error when userfaultfd
  // write-protection is unavailable; nothing is protected then.
  explicit UffdProtection(CapturedPages& pages);
  // Takes over the protection armed ahead of the pause (UffdArming, whose descriptor this
  // is): registers and protects what `armed` does not cover, protects again the blocks
  // written since the arming, and lifts the protection of armed memory outside `pages`.
  // Throws std::runtime_error when it cannot; nothing is protected then.
  UffdProtection(CapturedPages& pages, std::unique_ptr<Userfaultfd> descriptor, ArmedProtection::Handover armed);
  ~UffdProtection() override;
  const char* name() const override { return "userfaultfd"; }
  void written(size_t first, size_t count) override;
  void finish() override;
  int64_t armMicros() const override { return armMicros_; }
  size_t pagesProtectedInPause() const override { return pagesProtectedInPause_; }

 private:
  void onWrite(uintptr_t page);
  void startService();

  CapturedPages& pages_;
  std::unique_ptr<Userfaultfd> descriptor_;
  std::thread service_;
  static constexpr size_t kBlockPages = 32;
  ZeroMappedBytes preserved_;  // per page: 1 once a fault preserved it (service thread only)
  DenseSweep sweep_;           // a dense sweep takes blocks from its third close fault on
  bool finished_ = false;
  int64_t armMicros_ = 0;
  size_t pagesProtectedInPause_ = 0;
};

}  // namespace image
