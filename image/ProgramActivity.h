// ProgramActivity: whether the program a snapshot captures is busy, from the CPU time of
// its thread (both spaces run on one thread: vm/ThreadCpuClock.h). Made on that thread
// (PageWriter::capture is called there, in the pause); asked by the writer (WritePacing).
// A thread that has ended reads as idle.
#pragma once

#include <pthread.h>
#include <time.h>

#include <cstdint>

namespace image {

class ProgramActivity {
 public:
  // Busy: the thread ran at least this share of a core over the last window. An idle hub
  // runs well under 1% (its heartbeat), but reads above 5% in some windows while a
  // snapshot starts; one serving requests 60-90%.
  static constexpr double kBusyShare = 0.15;
  // Shorter windows answer the last verdict (reading another thread's CPU clock costs a
  // system call). Short enough that a busy program's writer runs unpaced for a few
  // batches at most.
  static constexpr int64_t kWindowMicros = 5000;

  ProgramActivity();  // of the calling thread
  // Starts the first window now, idle until it ends: the writer calls it before its first
  // batch, so that the pause's own work (on the program's thread) does not read as busy.
  void restart();
  bool busy();

 private:
  int64_t cpuMicros() const;  // -1 once the thread is gone

  clockid_t clock_{};
  bool valid_ = false;
  int64_t lastWall_ = 0;
  int64_t lastCpu_ = 0;
  bool busy_ = false;
};

}  // namespace image
