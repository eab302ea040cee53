// WriteProtection: see WriteProtection.h.
#include "image/WriteProtection.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "image/ArmedProtection.h"
#include "image/SignalProtection.h"
#include "image/UffdProtection.h"

namespace image {

std::unique_ptr<WriteProtection> protectPages(CapturedPages& pages, std::unique_ptr<ArmedProtection> armed) {
  if (armed) {
    try {
      return armed->capture(pages);
    } catch (const std::runtime_error&) {
      // Protecting failed while armed, or the kernel refused the memory added since:
      // everything was unprotected; protect afresh.
    }
    armed.reset();
  }
  const char* forced = std::getenv("ESPELL_SNAPSHOT_PROTECTION");
  if (!forced || std::strcmp(forced, "mprotect") != 0) {
    try {
      return std::make_unique<UffdProtection>(pages);
    } catch (const std::runtime_error&) {
      // Not offered here (old kernel, no permission, seccomp): mprotect works everywhere.
    }
  }
  return std::make_unique<SignalProtection>(pages);
}

}  // namespace image
