// Scheduler: green processes with priorities, semaphores, timers and the I/O poller of
// one space. Ready queues, semaphores and processes are heap objects (so a snapshot
// captures them); timers and I/O registrations are C++ tables holding semaphores through
// handles. The interpreter performs the actual process switches (Interpreter::transferTo).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "space/Handle.h"
#include "vm/Runtime.h"

namespace vm {

class IoPoller;

// Paused: stopped at an update point (or made ready while the space is paused); it is in
// the Processor's pausedProcesses list and becomes Ready when the pause ends.
enum class ProcessState : int64_t {
  Ready = 0,
  Running = 1,
  Waiting = 2,
  Suspended = 3,
  Terminated = 4,
  Terminating = 5,
  Paused = 6
};

// Pausing a space for an update (docs/ARCHITECTURE.md, "Pausing at update points"). Pausing: processes park at their
// next update point; blocked processes count as quiescent and events are not delivered.
// Paused: nothing runs except an exclusive process (an evaluation by the hypervisor);
// any other process made ready meanwhile is parked too.
enum class PausePhase { None, Pausing, Paused };

class Scheduler {
 public:
  static constexpr int kPriorities = 80;
  static constexpr int kUserPriority = 40;

  explicit Scheduler(Runtime& rt);
  ~Scheduler();

  // Creates the ProcessorScheduler object and its ready lists (bootstrap).
  void initialize();
  Oop processor() const;
  Oop activeProcess() const;
  void setActiveProcess(Oop p);

  // Ready queues.
  void makeReady(Oop process);  // append to its priority's ready list
  void makeReadyFirst(Oop process);
  // Removes and answers the highest-priority ready process, or nil.
  Oop takeNextReady();
  int highestReadyPriority() const;  // 0 when none
  static int priorityOf(Oop process);

  // ---- pausing ------------------------------------------------------------------------
  // Asks every running process to park at its next update point. A pause not reached by
  // `deadlineMicros` (nowMicros clock) is abandoned by the runtime.
  void requestPause(int64_t deadlineMicros);
  PausePhase pausePhase() const { return pausePhase_; }
  bool pauseDeadlinePassed() const { return pausePhase_ == PausePhase::Pausing && nowMicros() >= pauseDeadline_; }
  void enterPaused() { pausePhase_ = PausePhase::Paused; }
  // Parks `process` (not the active one, or the active one just before a switch).
  void park(Oop process);
  // Ends the pause: parked processes become ready in the order they arrived.
  void endPause();
  Oop pausedProcesses() const;
  // While paused, only this process may run (nil: none). Kept in the Processor object.
  void setExclusiveProcess(Oop process);
  Oop exclusiveProcess() const;
  bool mayRunWhilePaused(Oop process) const;

  // Linked lists (LinkedList and Semaphore share the layout).
  void addLast(Oop list, Oop process);
  Oop removeFirst(Oop list);
  bool remove(Oop list, Oop process);
  bool isEmpty(Oop list) const;

  // Semaphores. signal answers the process it made ready, or nil.
  Oop signal(Oop semaphore);

  // Timers: signal `semaphore` once the monotonic clock reaches `deadlineMicros`. Answers
  // a timer id for cancelTimer, which is O(log timers) so that every timed socket read
  // can cancel its timer when data arrives first (a cancelled or fired id is ignored).
  int64_t signalAt(Oop semaphore, int64_t deadlineMicros);
  void cancelTimer(int64_t timerId);
  size_t pendingTimerCount() const { return timers_.size(); }
  static int64_t nowMicros();

  IoPoller& io() { return *io_; }

  // The pending timers, for a checkpoint (RuntimeCheckpoint): (deadline, id, semaphore).
  struct TimerState {
    std::vector<std::tuple<int64_t, int64_t, Oop>> timers;
    int64_t nextTimerId = 1;
  };
  TimerState timers() const;
  // Makes the pending timers exactly `saved` again.
  void restoreTimers(const TimerState& saved);

  // Fires due timers and ready I/O without blocking. Answers whether anything fired.
  bool pollEvents();
  // Nothing is runnable: blocks until a timer is due or I/O is ready, then fires them.
  // Answers false when nothing could ever wake a process (deadlock).
  bool waitForEvents();
  bool hasPendingEvents() const;
  // Deadline of the earliest timer (nowMicros clock), or INT64_MAX.
  int64_t nextTimerDeadline() const { return timers_.empty() ? INT64_MAX : timers_.begin()->first.first; }
  // SIGTERM and SIGINT (when blocked by the host, see hypervisor/main.cpp) end the program
  // cleanly with status 0.
  void watchTerminationSignals();
  // Reads pending SIGTERM / SIGINT from the signalfd; if any, requests a clean exit.
  bool takeTerminationSignals();

  // Heartbeat: interrupts the interpreter every millisecond so that CPU-bound processes
  // still notice timers, I/O and pause requests.
  // Starts the heartbeat's thread, or resumes it when it is suspended.
  void startHeartbeat();
  void stopHeartbeat();
  bool heartbeatRunning() const { return heartbeatRunning_.load(std::memory_order_relaxed); }
  bool heartbeatSuspended() const { return heartbeatSuspended_.load(std::memory_order_relaxed); }
  // A space that waits for its events needs no interrupts: its host may suspend the
  // heartbeat meanwhile (the thread then sleeps until resumed or stopped), so a second
  // space that is idle costs the process no wake-ups (hypervisor/SpaceHost.h).
  void suspendHeartbeat() { heartbeatSuspended_.store(true, std::memory_order_relaxed); }
  void resumeHeartbeat();

 private:
  Runtime& rt_;
  // Pending timers ordered by (deadline, id); ids increase, so equal deadlines fire in
  // the order they were set. timerDeadlines_ maps id -> deadline for cancellation.
  std::map<std::pair<int64_t, int64_t>, space::Handle> timers_;
  std::unordered_map<int64_t, int64_t> timerDeadlines_;
  int64_t nextTimerId_ = 1;
  std::unique_ptr<IoPoller> io_;
  int signalFd_ = -1;
  PausePhase pausePhase_ = PausePhase::None;
  int64_t pauseDeadline_ = 0;
  std::thread heartbeat_;
  std::atomic<bool> heartbeatRunning_{false};
  std::atomic<bool> heartbeatSuspended_{false};
  std::mutex heartbeatMutex_;  // with heartbeatWake_: a suspended heartbeat waits there
  std::condition_variable heartbeatWake_;
};

}  // namespace vm
