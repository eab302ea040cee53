// ProgramActivity: whether the program a snapshot captures is busy: from the CPU time of
// its thread (both spaces run on one thread: space/ThreadUsage.h), and whether that
// thread is waiting to run. Made on that thread (PageWriter::capture is called there, in
// the pause); asked by the writer (WritePacing). A thread that has ended reads as idle.
//
// Why the waiting counts: on a machine whose cores are taken by other work, a program
// that computes gets only a slice of a core, and its CPU time alone can read as idle. It
// still wants the core, so the writer should not take more of it.
#pragma once

#include <pthread.h>
#include <time.h>

#include <cstdint>

namespace image {

class ProgramActivity {
 public:
  // Busy: the thread ran at least this share of a core over the last window, or is
  // running or waiting to run as the window ends. An idle hub runs well under 1% (its
  // heartbeat), but reads above 5% in some windows while a snapshot starts; one serving
  // requests 60-90%.
  static constexpr double kBusyShare = 0.15;
  // Shorter windows answer the last verdict (reading another thread's times costs a
  // system call). Short enough that a busy program's writer runs unpaced for a few
  // batches at most.
  static constexpr int64_t kWindowMicros = 5000;

  ProgramActivity();  // of the calling thread
  ~ProgramActivity();
  ProgramActivity(const ProgramActivity&) = delete;
  ProgramActivity& operator=(const ProgramActivity&) = delete;
  // Starts the first window now, idle until it ends: the writer calls it before its first
  // batch, so that the pause's own work (on the program's thread) does not read as busy.
  void restart();
  bool busy();
  // Whether a thread waiting to run is seen: false where /proc is not mounted (then only
  // the CPU time counts).
  bool seesWaiting() const { return stat_ >= 0; }

 private:
  int64_t cpuMicros() const;  // -1 once the thread is gone
  bool runnable() const;      // running or on a run queue now (state R); false once gone

  // /proc/thread-self/stat opened on the thread (the link resolves to it then); -1 where
  // it cannot be opened.
  int stat_ = -1;
  clockid_t clock_{};
  bool valid_ = false;
  int64_t lastWall_ = 0;
  int64_t lastCpu_ = 0;
  bool busy_ = false;
};

}  // namespace image
