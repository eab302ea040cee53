// IoPoller: epoll readiness for the sockets of one space. A process that waits for a file
// descriptor registers a semaphore here and waits on it; the poller signals it when the
// descriptor becomes readable or writable, so waiting costs no CPU.
#pragma once

#include <functional>
#include <map>
#include <vector>

#include "space/Handle.h"

namespace vm {

class Scheduler;

class IoPoller {
 public:
  enum Interest : uint32_t { Readable = 1, Writable = 2 };

  IoPoller();
  ~IoPoller();
  IoPoller(const IoPoller&) = delete;
  IoPoller& operator=(const IoPoller&) = delete;

  // One-shot: signals `semaphore` once `fd` is ready for `interest` (or has an error).
  void watch(int fd, Interest interest, space::Handle semaphore);
  // Calls `onReady` whenever `fd` is readable (for the VM's own descriptors, e.g. the
  // signalfd that turns SIGTERM into a clean exit). Not counted as a watcher.
  void watchAlways(int fd, std::function<void()> onReady);
  // Forgets a descriptor (before it is closed), signalling its waiters.
  void forget(int fd, Scheduler& scheduler);
  bool hasWatchers() const { return !watchers_.empty(); }
  // The epoll descriptor: readable when some watched descriptor is ready (a host waiting
  // for several spaces at once polls these).
  int fd() const { return epoll_; }
  // Waits up to `timeoutMillis` (0: poll, -1: forever) and signals ready waiters.
  // Answers the number of semaphores signalled.
  int poll(int timeoutMillis, Scheduler& scheduler);

  // The waiters of every watched descriptor, for a checkpoint (RuntimeCheckpoint).
  struct WatchState {
    int fd;
    space::Oop readable;  // the semaphore to signal, or the null oop
    space::Oop writable;
  };
  std::vector<WatchState> watches() const;
  // Watches exactly what `saved` describes again (registrations made since are dropped).
  void restoreWatches(space::Space& space, const std::vector<WatchState>& saved);

 private:
  struct Watch {
    space::Handle readable;
    space::Handle writable;
    uint32_t registered = 0;  // epoll events currently registered
  };
  void update(int fd, Watch& w);

  int epoll_ = -1;
  std::map<int, Watch> watchers_;
  std::map<int, std::function<void()>> always_;
};

}  // namespace vm
