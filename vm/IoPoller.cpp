// IoPoller: one-shot epoll registrations mapping descriptors to waiting semaphores.
#include "vm/IoPoller.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "vm/Scheduler.h"

namespace vm {

namespace {
// What every registered descriptor is watched for (see IoPoller.h).
constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;
}  // namespace

IoPoller::IoPoller() {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw std::runtime_error("epoll_create1 failed");
}

IoPoller::~IoPoller() {
  if (epoll_ >= 0) close(epoll_);
}

void IoPoller::setWaiter(space::Handle& slot, space::Handle semaphore) {
  waiters_ -= slot.isValid() ? 1 : 0;
  slot = std::move(semaphore);
  waiters_ += slot.isValid() ? 1 : 0;
}

IoPoller::Watch* IoPoller::registered(int fd) {
  auto [it, added] = watchers_.try_emplace(fd);
  if (added && !setEvents(fd, it->second, kReadEvents)) {
    watchers_.erase(it);
    return nullptr;
  }
  return &it->second;
}

bool IoPoller::setEvents(int fd, Watch& w, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_, w.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) return false;
  w.events = events;
  return true;
}

void IoPoller::watch(int fd, Interest interest, space::Handle semaphore, Scheduler& scheduler) {
  Watch* found = registered(fd);
  if (!found) {
    // Not a descriptor epoll takes (closed under us): the waiter sees the error at its
    // next operation rather than waiting forever.
    scheduler.signal(semaphore.get());
    return;
  }
  Watch& w = *found;
  if (interest == Readable) {
    if (w.readyToRead) {
      w.readyToRead = false;
      scheduler.signal(semaphore.get());
      return;
    }
    setWaiter(w.readable, std::move(semaphore));
    return;
  }
  setWaiter(w.writable, std::move(semaphore));
  // Writability is watched only while someone waits for it (see the header); adding it
  // makes epoll check it now, so a descriptor writable already reports at once.
  if (!(w.events & EPOLLOUT) && !setEvents(fd, w, kReadEvents | EPOLLOUT)) {
    space::Handle h = std::move(w.writable);
    waiters_--;
    scheduler.signal(h.get());
  }
}

void IoPoller::watchAlways(int fd, std::function<void()> onReady) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  always_[fd] = std::move(onReady);
}

void IoPoller::forget(int fd, Scheduler& scheduler) {
  auto it = watchers_.find(fd);
  if (it == watchers_.end()) return;
  space::Handle readable = std::move(it->second.readable);
  space::Handle writable = std::move(it->second.writable);
  waiters_ -= (readable.isValid() ? 1 : 0) + (writable.isValid() ? 1 : 0);
  watchers_.erase(it);
  epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  if (readable.isValid()) scheduler.signal(readable.get());
  if (writable.isValid()) scheduler.signal(writable.get());
}

int IoPoller::poll(int timeoutMillis, Scheduler& scheduler) {
  epoll_event events[64];
  int n = epoll_wait(epoll_, events, 64, timeoutMillis);
  if (n > 0) pollsWithEvents_++;
  int signalled = 0;
  for (int i = 0; i < n; i++) {
    int fd = events[i].data.fd;
    if (auto a = always_.find(fd); a != always_.end()) {
      a->second();
      signalled++;
      continue;
    }
    auto it = watchers_.find(fd);
    if (it == watchers_.end()) continue;
    Watch& w = it->second;
    uint32_t e = events[i].events;
    bool failed = (e & (EPOLLERR | EPOLLHUP)) != 0;
    auto wake = [&](space::Handle& waiter) {
      space::Handle h = std::move(waiter);
      waiters_--;
      scheduler.signal(h.get());
      signalled++;
    };
    if (failed || (e & (EPOLLIN | EPOLLRDHUP))) {
      if (w.readable.isValid()) {
        wake(w.readable);
      } else {
        w.readyToRead = true;  // for the next wait
      }
    }
    if (failed || (e & EPOLLOUT)) {
      if (w.writable.isValid()) {
        wake(w.writable);
      } else if (e & EPOLLOUT) {
        setEvents(fd, w, kReadEvents);  // nobody waits to write: no edge at every acknowledgement
      }
    }
  }
  return signalled;
}

std::vector<IoPoller::WatchState> IoPoller::watches() const {
  std::vector<WatchState> out;
  for (const auto& [fd, w] : watchers_) {
    if (!w.readable.isValid() && !w.writable.isValid()) continue;
    out.push_back({fd, w.readable.isValid() ? w.readable.get() : space::Oop(),
                   w.writable.isValid() ? w.writable.get() : space::Oop()});
  }
  return out;
}

void IoPoller::restoreWatches(space::Space& space, const std::vector<WatchState>& saved,
                              uint64_t pollsWithEventsAtSave) {
  bool edgesTaken = pollsWithEvents_ != pollsWithEventsAtSave;
  for (auto& [fd, w] : watchers_) {
    setWaiter(w.readable, space::Handle());
    setWaiter(w.writable, space::Handle());
  }
  for (const WatchState& s : saved) {
    Watch* w = registered(s.fd);
    if (!w) continue;  // closed since: its waiters were woken then
    setWaiter(w->readable, s.readable.isNull() ? space::Handle() : space::Handle(space, s.readable));
    setWaiter(w->writable, s.writable.isNull() ? space::Handle() : space::Handle(space, s.writable));
    // The edge a restored waiter waits for may have been taken since the checkpoint (by a
    // waiter the restore dropped): registering again makes epoll report what is ready now.
    // When no poll took events since, none was: a system call per descriptor saved (20-60
    // us of a rollback's pause for the hub's connections).
    uint32_t events = kReadEvents | (w->writable.isValid() ? uint32_t(EPOLLOUT) : 0u);
    if (edgesTaken || w->events != events) setEvents(s.fd, *w, events);
  }
}

}  // namespace vm
