// ProgramActivity: see ProgramActivity.h.
#include "image/ProgramActivity.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "space/MonotonicClock.h"

namespace image {

ProgramActivity::ProgramActivity() {
  stat_ = open("/proc/thread-self/stat", O_RDONLY | O_CLOEXEC);
  valid_ = pthread_getcpuclockid(pthread_self(), &clock_) == 0;
  restart();
}

ProgramActivity::~ProgramActivity() {
  if (stat_ >= 0) close(stat_);
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

bool ProgramActivity::runnable() const {
  if (stat_ < 0) return false;
  // "tid (name) S ...": the name may hold spaces and parentheses, the state follows the
  // last ')'. The read fails once the thread has ended (ESRCH).
  char text[512];
  ssize_t n = pread(stat_, text, sizeof text - 1, 0);
  if (n <= 0) return false;
  text[n] = '\0';
  const char* close = std::strrchr(text, ')');
  return close && close[1] == ' ' && close[2] == 'R';
}

bool ProgramActivity::busy() {
  int64_t wall = space::monotonicMicros();
  if (wall - lastWall_ < kWindowMicros) return busy_;
  int64_t cpu = cpuMicros();
  bool ran = cpu >= 0 && lastCpu_ >= 0 && double(cpu - lastCpu_) >= kBusyShare * double(wall - lastWall_);
  busy_ = ran || (cpu >= 0 && runnable());

  lastWall_ = wall;
  lastCpu_ = cpu;
  return busy_;
}

}  // namespace image
