// WritePacing: see WritePacing.h.
#include "image/WritePacing.h"

#include <algorithm>
#include <cstdlib>

namespace image {

double WritePacing::busyBytesPerSecondFromEnvironment() {
  double mibs = kBusyMiBPerSecond;
  if (const char* forced = std::getenv("ESPELL_SNAPSHOT_BUSY_MIBS")) mibs = std::max(0.0, std::atof(forced));
  return mibs * 1048576.0;
}

WritePacing::WritePacing(double busyBytesPerSecond) : bytesPerSecond_(busyBytesPerSecond) {}

WritePacing::Clock::time_point WritePacing::after(size_t bytes, bool programBusy, Clock::time_point now) {
  if (!programBusy || bytesPerSecond_ <= 0) {
    busy_ = false;
    return now;
  }
  auto cost =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(double(bytes) / bytesPerSecond_));
  // The first batch of a busy stretch was written before the program was seen busy: it
  // is the stretch's credit, not a debt.
  next_ = busy_ ? std::max(next_, now - cost) + cost : now;
  busy_ = true;
  return next_;
}

}  // namespace image
