// Scheduler: ready lists indexed by priority, semaphore queues, timers and the heartbeat.
#include "vm/Scheduler.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <csignal>

#include "space/MonotonicClock.h"
#include "space/ThreadName.h"
#include "vm/Interpreter.h"
#include "vm/IoPoller.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"

namespace vm {

using space::HeapObject;

Scheduler::Scheduler(Runtime& rt) : rt_(rt), io_(std::make_unique<IoPoller>()) {}

Scheduler::~Scheduler() {
  stopHeartbeat();
  if (signalFd_ >= 0) close(signalFd_);
}

void Scheduler::watchTerminationSignals() {
  if (signalFd_ >= 0) return;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  signalFd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signalFd_ < 0) return;
  io_->watchAlways(signalFd_, [this] { takeTerminationSignals(); });
}

bool Scheduler::takeTerminationSignals() {
  if (signalFd_ < 0) return false;
  bool received = false;
  signalfd_siginfo info;
  while (read(signalFd_, &info, sizeof info) == sizeof info) received = true;
  if (received) rt_.requestExit(0);
  return received;
}

int64_t Scheduler::nowMicros() {
  return space::monotonicMicros();
}

void Scheduler::initialize() {
  space::Space& sp = rt_.space();
  Oop lists = newArray(rt_, kPriorities + 1, space::Tenure::Old);
  space::LocalRoot keep(sp.localRoots(), lists);
  for (int i = 1; i <= kPriorities; i++) {
    Oop list = sp.allocate(rt_.known.linkedList, space::Format::Fixed, 2, space::Tenure::Old);
    sp.storePointer(keep.get(), size_t(i), list);
  }
  Oop cls = rt_.special(special::kClassProcessorScheduler);
  Oop paused = sp.allocate(rt_.known.linkedList, space::Format::Fixed, 2, space::Tenure::Old);
  space::LocalRoot keepPaused(sp.localRoots(), paused);
  Oop processor = sp.allocate(space::ClassIndex(cls.object()->rawHash()), space::Format::Fixed, scheduler_slot::kCount,
                              space::Tenure::Old);
  sp.storePointer(processor, scheduler_slot::kReadyLists, keep.get());
  sp.storePointer(processor, scheduler_slot::kPausedProcesses, keepPaused.get());
  rt_.setSpecial(special::kProcessor, processor);
}

Oop Scheduler::processor() const {
  return rt_.special(special::kProcessor);
}

Oop Scheduler::activeProcess() const {
  Oop p = processor();
  return p == rt_.nil() ? p : p.object()->slot(scheduler_slot::kActiveProcess);
}

void Scheduler::setActiveProcess(Oop process) {
  rt_.space().storePointer(processor(), scheduler_slot::kActiveProcess, process);
}

int Scheduler::priorityOf(Oop process) {
  Oop p = process.object()->slot(process_slot::kPriority);
  int v = p.isSmallInteger() ? int(p.smallInteger()) : kUserPriority;
  return v < 1 ? 1 : v > kPriorities ? kPriorities : v;
}

bool Scheduler::isEmpty(Oop list) const {
  return list.object()->slot(list_slot::kFirstLink) == rt_.nil();
}

void Scheduler::addLast(Oop list, Oop process) {
  space::Space& sp = rt_.space();
  Oop nil = rt_.nil();
  sp.storePointer(process, process_slot::kNextLink, nil);
  sp.storePointer(process, process_slot::kMyList, list);
  Oop last = list.object()->slot(list_slot::kLastLink);
  if (last == nil) {
    sp.storePointer(list, list_slot::kFirstLink, process);
  } else {
    sp.storePointer(last, process_slot::kNextLink, process);
  }
  sp.storePointer(list, list_slot::kLastLink, process);
}

Oop Scheduler::removeFirst(Oop list) {
  space::Space& sp = rt_.space();
  Oop nil = rt_.nil();
  Oop first = list.object()->slot(list_slot::kFirstLink);
  if (first == nil) return nil;
  Oop next = first.object()->slot(process_slot::kNextLink);
  sp.storePointer(list, list_slot::kFirstLink, next);
  if (next == nil) sp.storePointer(list, list_slot::kLastLink, nil);
  sp.storePointer(first, process_slot::kNextLink, nil);
  sp.storePointer(first, process_slot::kMyList, nil);
  return first;
}

bool Scheduler::remove(Oop list, Oop process) {
  space::Space& sp = rt_.space();
  Oop nil = rt_.nil();
  Oop prev = nil;
  for (Oop p = list.object()->slot(list_slot::kFirstLink); p != nil; p = p.object()->slot(process_slot::kNextLink)) {
    if (p == process) {
      Oop next = p.object()->slot(process_slot::kNextLink);
      if (prev == nil) {
        sp.storePointer(list, list_slot::kFirstLink, next);
      } else {
        sp.storePointer(prev, process_slot::kNextLink, next);
      }
      if (list.object()->slot(list_slot::kLastLink) == p) sp.storePointer(list, list_slot::kLastLink, prev);
      sp.storePointer(p, process_slot::kNextLink, nil);
      sp.storePointer(p, process_slot::kMyList, nil);
      return true;
    }
    prev = p;
  }
  return false;
}

void Scheduler::makeReady(Oop process) {
  if (!mayRunWhilePaused(process)) return park(process);
  Oop lists = processor().object()->slot(scheduler_slot::kReadyLists);
  process.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Ready));
  addLast(lists.object()->slot(size_t(priorityOf(process))), process);
}

void Scheduler::makeReadyFirst(Oop process) {
  if (!mayRunWhilePaused(process)) return park(process);
  space::Space& sp = rt_.space();
  Oop lists = processor().object()->slot(scheduler_slot::kReadyLists);
  Oop list = lists.object()->slot(size_t(priorityOf(process)));
  process.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Ready));
  Oop first = list.object()->slot(list_slot::kFirstLink);
  sp.storePointer(process, process_slot::kNextLink, first);
  sp.storePointer(process, process_slot::kMyList, list);
  sp.storePointer(list, list_slot::kFirstLink, process);
  if (first == rt_.nil()) sp.storePointer(list, list_slot::kLastLink, process);
}

// ---- pausing ---------------------------------------------------------------------------

void Scheduler::requestPause(int64_t deadlineMicros) {
  if (pausePhase_ != PausePhase::None) return;
  pausePhase_ = PausePhase::Pausing;
  pauseDeadline_ = deadlineMicros;
  rt_.interpreter().updateRequested().store(true, std::memory_order_release);
}

Oop Scheduler::pausedProcesses() const {
  return processor().object()->slot(scheduler_slot::kPausedProcesses);
}

void Scheduler::park(Oop process) {
  process.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Paused));
  addLast(pausedProcesses(), process);
}

void Scheduler::endPause() {
  pausePhase_ = PausePhase::None;
  rt_.interpreter().updateRequested().store(false, std::memory_order_release);
  setExclusiveProcess(rt_.nil());
  Oop list = pausedProcesses();
  for (Oop p = removeFirst(list); p != rt_.nil(); p = removeFirst(list)) makeReady(p);
}

void Scheduler::setExclusiveProcess(Oop process) {
  rt_.space().storePointer(processor(), scheduler_slot::kExclusiveProcess, process);
}

Oop Scheduler::exclusiveProcess() const {
  return processor().object()->slot(scheduler_slot::kExclusiveProcess);
}

bool Scheduler::mayRunWhilePaused(Oop process) const {
  return pausePhase_ != PausePhase::Paused || process == exclusiveProcess();
}

int Scheduler::highestReadyPriority() const {
  Oop p = processor();
  if (p == rt_.nil()) return 0;
  Oop lists = p.object()->slot(scheduler_slot::kReadyLists);
  for (int i = kPriorities; i >= 1; i--) {
    if (!isEmpty(lists.object()->slot(size_t(i)))) return i;
  }
  return 0;
}

Oop Scheduler::takeNextReady() {
  int pri = highestReadyPriority();
  if (pri == 0) return rt_.nil();
  Oop lists = processor().object()->slot(scheduler_slot::kReadyLists);
  return removeFirst(lists.object()->slot(size_t(pri)));
}

Oop Scheduler::signal(Oop semaphore) {
  if (isEmpty(semaphore)) {
    Oop excess = semaphore.object()->slot(list_slot::kExcessSignals);
    int64_t n = excess.isSmallInteger() ? excess.smallInteger() : 0;
    semaphore.object()->slots()[list_slot::kExcessSignals] = Oop::fromSmallInteger(n + 1);
    return rt_.nil();
  }
  Oop p = removeFirst(semaphore);
  makeReady(p);
  return p;
}

int64_t Scheduler::signalAt(Oop semaphore, int64_t deadlineMicros) {
  int64_t id = nextTimerId_++;
  timers_.emplace(std::make_pair(deadlineMicros, id), space::Handle(rt_.space(), semaphore));
  timerDeadlines_.emplace(id, deadlineMicros);
  return id;
}

void Scheduler::cancelTimer(int64_t timerId) {
  auto it = timerDeadlines_.find(timerId);
  if (it == timerDeadlines_.end()) return;
  timers_.erase(std::make_pair(it->second, timerId));
  timerDeadlines_.erase(it);
}

bool Scheduler::hasPendingEvents() const {
  return !timers_.empty() || io_->hasWatchers();
}

bool Scheduler::pollEvents() {
  bool fired = false;
  int64_t now = nowMicros();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    space::Handle sem = std::move(timers_.begin()->second);
    timerDeadlines_.erase(timers_.begin()->first.second);
    timers_.erase(timers_.begin());
    signal(sem.get());
    fired = true;
  }
  if (io_->hasDescriptors()) {
    if (io_->poll(0, *this) > 0) fired = true;  // the signalfd is in the same epoll set
  } else if (takeTerminationSignals()) {
    // Without I/O watchers nothing polls epoll, yet a CPU-bound program must still stop
    // on SIGTERM / Ctrl-C: one non-blocking read per heartbeat.
    fired = true;
  }
  return fired;
}

bool Scheduler::waitForEvents() {
  for (;;) {
    if (pollEvents()) return true;
    if (timers_.empty() && !io_->hasWatchers()) return false;
    int timeoutMs = -1;
    if (!timers_.empty()) {
      int64_t wait = timers_.begin()->first.first - nowMicros();
      timeoutMs = wait <= 0 ? 0 : int((wait + 999) / 1000);
    }
    if (io_->poll(timeoutMs, *this) > 0) return true;
  }
}

void Scheduler::startHeartbeat() {
  if (heartbeatRunning_.exchange(true)) {
    resumeHeartbeat();
    return;
  }
  Interpreter* interp = &rt_.interpreter();
  heartbeat_ = std::thread([this, interp] {
    space::nameThisThread("espell-beat");
    while (heartbeatRunning_.load(std::memory_order_relaxed)) {
      // A tick, cut short by stopHeartbeat: it joins at once instead of waiting out the
      // millisecond.
      std::unique_lock<std::mutex> lock(heartbeatMutex_);
      heartbeatWake_.wait_for(lock, std::chrono::milliseconds(1),
                              [this] { return !heartbeatRunning_.load(std::memory_order_relaxed); });
      if (heartbeatSuspended_.load(std::memory_order_relaxed)) {
        heartbeatWake_.wait(lock, [this] {
          return !heartbeatSuspended_.load(std::memory_order_relaxed) ||
                 !heartbeatRunning_.load(std::memory_order_relaxed);
        });
      }
      lock.unlock();
      if (heartbeatRunning_.load(std::memory_order_relaxed)) interp->requestInterrupt();
    }
  });
}

void Scheduler::resumeHeartbeat() {
  if (!heartbeatSuspended_.load(std::memory_order_relaxed)) return;
  {
    std::lock_guard<std::mutex> lock(heartbeatMutex_);
    heartbeatSuspended_.store(false, std::memory_order_relaxed);
  }
  heartbeatWake_.notify_one();
}

void Scheduler::stopHeartbeat() {
  if (!heartbeatRunning_.exchange(false)) return;
  {
    std::lock_guard<std::mutex> lock(heartbeatMutex_);  // a suspended thread sees it
  }
  heartbeatWake_.notify_one();
  if (heartbeat_.joinable()) heartbeat_.join();
}

Scheduler::TimerState Scheduler::timers() const {
  TimerState state;
  for (const auto& [key, semaphore] : timers_) state.timers.emplace_back(key.first, key.second, semaphore.get());
  state.nextTimerId = nextTimerId_;
  return state;
}

void Scheduler::restoreTimers(const TimerState& saved) {
  timers_.clear();
  timerDeadlines_.clear();
  for (const auto& [deadline, id, semaphore] : saved.timers) {
    timers_.emplace(std::make_pair(deadline, id), space::Handle(rt_.space(), semaphore));
    timerDeadlines_.emplace(id, deadline);
  }
  nextTimerId_ = saved.nextTimerId;
}

}  // namespace vm
