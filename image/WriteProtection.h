// WriteProtection: how a copy-on-write capture (CowCapture) learns of the program's first
// write to each page it has not written yet. Constructing one protects every page of the
// capture; from then on a write to a page first has CapturedPages::preserve run for it.
// Two mechanisms: userfaultfd write-protection (UffdProtection.h) and mprotect with
// SIGSEGV (SignalProtection.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "image/CapturedPages.h"

namespace image {

class WriteProtection {
 public:
  virtual ~WriteProtection() = default;  // finishes if finish() was not called
  virtual const char* name() const = 0;
  // The writer has written pages [first, first + count) of one range, in order from the
  // range's start: they may become writable.
  virtual void written(size_t first, size_t count) = 0;
  // Makes every page writable and ends the fault path; called once, by the writer when it
  // stops (done or failed).
  virtual void finish() = 0;
  // How long protecting ahead of the pause took (ArmedProtection), 0 if it was not armed.
  virtual int64_t armMicros() const { return 0; }
  // The pages protected in the pause: all of them unless armed ahead.
  virtual size_t pagesProtectedInPause() const = 0;
  // A write waits for the writer to write its page (SignalProtection past its bound on
  // mappings): the writer should not pace itself now. And how many writes did.
  virtual bool writerAwaited() const { return false; }
  virtual size_t writesWaited() const { return 0; }
};

class ArmedProtection;

// Protects `pages` by userfaultfd if the kernel allows it and the environment does not
// force mprotect (ESPELL_SNAPSHOT_PROTECTION=mprotect), else by mprotect. With `armed`
// (protection set up ahead of the pause over these pages, or most of them) it takes that
// over, and starts afresh if that fails. Throws std::runtime_error when nothing works
// (nothing is protected then).
std::unique_ptr<WriteProtection> protectPages(CapturedPages& pages, std::unique_ptr<ArmedProtection> armed = nullptr);

}  // namespace image
