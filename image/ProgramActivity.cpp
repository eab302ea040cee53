// ProgramActivity: see ProgramActivity.h.
#include "image/ProgramActivity.h"

#include "space/MonotonicClock.h"

namespace image {

ProgramActivity::ProgramActivity() {
  valid_ = pthread_getcpuclockid(pthread_self(), &clock_) == 0;
  restart();
}

void ProgramActivity::restart() {
  lastWall_ = space::monotonicMicros();
  lastCpu_ = cpuMicros();
  busy_ = false;
}

int64_t ProgramActivity::cpuMicros() const {
  timespec t{};
  if (!valid_ || clock_gettime(clock_, &t) != 0) return -1;
  return int64_t(t.tv_sec) * 1000000 + t.tv_nsec / 1000;
}

bool ProgramActivity::busy() {
  int64_t wall = space::monotonicMicros();
  if (wall - lastWall_ < kWindowMicros) return busy_;
  int64_t cpu = cpuMicros();
  busy_ = cpu >= 0 && lastCpu_ >= 0 && double(cpu - lastCpu_) >= kBusyShare * double(wall - lastWall_);

  lastWall_ = wall;
  lastCpu_ = cpu;
  return busy_;
}

}  // namespace image
