// UffdArming: an ArmedProtection by userfaultfd (Userfaultfd.h). A write to an armed page
// before the capture blocks the writing thread in the kernel; the service thread marks
// its block written and lifts the block's protection, which wakes the thread. Taken over
// in the pause by UffdProtection, which keeps the descriptor and its registrations.
#pragma once

#include <memory>
#include <thread>

#include "image/ArmedProtection.h"
#include "image/Userfaultfd.h"

namespace image {

class UffdArming final : public ArmedProtection {
 public:
  // Registers `ranges` and starts protecting them (ArmedProtection.h). Throws
  // std::runtime_error when userfaultfd write-protection is unavailable (nothing is
  // protected then).
  explicit UffdArming(std::vector<PageRange> ranges, PageRange populate = {});
  // Not handed over: stops and lifts every protection.
  ~UffdArming() override;
  const char* name() const override { return "userfaultfd"; }
  std::unique_ptr<WriteProtection> capture(CapturedPages& pages) override;

 private:
  void protect(uintptr_t start, size_t bytes) override { descriptor_->protect(start, bytes); }
  void onWrite(uintptr_t page);
  void stopService();

  std::unique_ptr<Userfaultfd> descriptor_;
  std::thread service_;
};

}  // namespace image
