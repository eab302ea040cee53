// IoPoller: epoll readiness for the sockets of one space. A process that waits for a file
// descriptor registers a semaphore here and waits on it; the poller signals it when the
// descriptor becomes readable or writable, so waiting costs no CPU.
//
// A descriptor is registered once, edge-triggered, and stays so until forget(): a wait
// for reading costs no epoll_ctl (a served HTTP request used to cost two, one to add
// the connection when its next read found nothing and one to remove it once ready). An
// edge that comes while nobody waits is remembered, and the next wait in that direction is
// signalled at once: a process waits only after a read or write found the descriptor not
// ready, so the edge it needs is either remembered or still to come. (At worst a
// remembered edge is stale: the process tries again, finds nothing and waits anew.)
// Writability is added to the registration only while a process waits to write, and
// dropped at the first writable edge nobody waits for: a TCP socket reports one at every
// acknowledgement of sent data, and hardly any write ever has to wait.
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

  // One-shot: signals `semaphore` once `fd` is ready for `interest` (or has an error) —
  // at once, through `scheduler`, if it became ready since the last wait.
  void watch(int fd, Interest interest, space::Handle semaphore, Scheduler& scheduler);
  // Calls `onReady` whenever `fd` is readable (for the VM's own descriptors, e.g. the
  // signalfd that turns SIGTERM into a clean exit). Not counted as a watcher.
  void watchAlways(int fd, std::function<void()> onReady);
  // Forgets a descriptor (before it is closed), signalling its waiters.
  void forget(int fd, Scheduler& scheduler);
  // Whether a process waits for a descriptor.
  bool hasWatchers() const { return waiters_ != 0; }
  // Whether any descriptor is registered: its edges must be taken from epoll (poll) even
  // while nobody waits, or the epoll descriptor stays readable for whoever watches it.
  bool hasDescriptors() const { return !watchers_.empty(); }
  // The epoll descriptor: readable when some watched descriptor is ready (a host waiting
  // for several spaces at once polls these).
  int fd() const { return epoll_; }
  // Waits up to `timeoutMillis` (0: poll, -1: forever) and signals ready waiters.
  // Answers the number of semaphores signalled.
  int poll(int timeoutMillis, Scheduler& scheduler);

  // The waiters of every descriptor someone waits for, for a checkpoint (RuntimeCheckpoint).
  struct WatchState {
    int fd;
    space::Oop readable;  // the semaphore to signal, or the null oop
    space::Oop writable;
  };
  std::vector<WatchState> watches() const;
  // Polls that took events so far: a checkpoint notes it with watches().
  uint64_t pollsWithEvents() const { return pollsWithEvents_; }
  // Watches exactly what `saved` describes again (registrations made since are dropped).
  // `pollsWithEventsAtSave`: pollsWithEvents() when `saved` was taken.
  void restoreWatches(space::Space& space, const std::vector<WatchState>& saved, uint64_t pollsWithEventsAtSave);

 private:
  struct Watch {
    space::Handle readable;  // the waiter for readability, if any
    space::Handle writable;
    bool readyToRead = false;  // an edge came while nobody waited to read
    uint32_t events = 0;       // registered with epoll: the read events, plus EPOLLOUT while someone waits to write
  };
  // Registers `events` (epoll_event flags) for `fd`; false if epoll refuses.
  bool setEvents(int fd, Watch& w, uint32_t events);
  // The descriptor's entry, registered with epoll if it was not; nullptr if epoll refuses it.
  Watch* registered(int fd);
  // Sets or clears a waiter, keeping waiters_ in step.
  void setWaiter(space::Handle& slot, space::Handle semaphore);

  int epoll_ = -1;
  std::map<int, Watch> watchers_;  // every registered descriptor: exactly those in epoll_
  size_t waiters_ = 0;             // valid readable and writable handles in watchers_
  uint64_t pollsWithEvents_ = 0;   // epoll_wait calls that answered events (edges taken)
  std::map<int, std::function<void()>> always_;
};

}  // namespace vm
