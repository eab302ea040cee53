// IoPoller: one-shot epoll registrations mapping descriptors to waiting semaphores.
#include "vm/IoPoller.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "vm/Scheduler.h"

namespace vm {

IoPoller::IoPoller() {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw std::runtime_error("epoll_create1 failed");
}

IoPoller::~IoPoller() {
  if (epoll_ >= 0) close(epoll_);
}

void IoPoller::update(int fd, Watch& w) {
  uint32_t want =
      (w.readable.isValid() ? uint32_t(EPOLLIN | EPOLLRDHUP) : 0u) | (w.writable.isValid() ? uint32_t(EPOLLOUT) : 0u);
  if (want == 0) {
    if (w.registered) epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    w.registered = 0;
    return;
  }
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_, w.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0 && !w.registered) {
    epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
  }
  w.registered = want;
}

void IoPoller::watch(int fd, Interest interest, space::Handle semaphore) {
  Watch& w = watchers_[fd];
  if (interest == Readable) {
    w.readable = std::move(semaphore);
  } else {
    w.writable = std::move(semaphore);
  }
  update(fd, w);
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
  Watch w = std::move(it->second);
  watchers_.erase(it);
  epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  if (w.readable.isValid()) scheduler.signal(w.readable.get());
  if (w.writable.isValid()) scheduler.signal(w.writable.get());
}

int IoPoller::poll(int timeoutMillis, Scheduler& scheduler) {
  epoll_event events[64];
  int n = epoll_wait(epoll_, events, 64, timeoutMillis);
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
    if (w.readable.isValid() && (failed || (e & (EPOLLIN | EPOLLRDHUP)))) {
      space::Handle h = std::move(w.readable);
      scheduler.signal(h.get());
      signalled++;
    }
    if (w.writable.isValid() && (failed || (e & EPOLLOUT))) {
      space::Handle h = std::move(w.writable);
      scheduler.signal(h.get());
      signalled++;
    }
    update(fd, w);
    if (!w.readable.isValid() && !w.writable.isValid()) watchers_.erase(it);
  }
  return signalled;
}

std::vector<IoPoller::WatchState> IoPoller::watches() const {
  std::vector<WatchState> out;
  for (const auto& [fd, w] : watchers_) {
    out.push_back({fd, w.readable.isValid() ? w.readable.get() : space::Oop(),
                   w.writable.isValid() ? w.writable.get() : space::Oop()});
  }
  return out;
}

void IoPoller::restoreWatches(space::Space& space, const std::vector<WatchState>& saved) {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    bool kept = std::any_of(saved.begin(), saved.end(), [&](const WatchState& s) { return s.fd == it->first; });
    if (kept) {
      ++it;
      continue;
    }
    it->second.readable.reset();
    it->second.writable.reset();
    update(it->first, it->second);
    it = watchers_.erase(it);
  }
  for (const WatchState& s : saved) {
    Watch& w = watchers_[s.fd];
    w.readable = s.readable.isNull() ? space::Handle() : space::Handle(space, s.readable);
    w.writable = s.writable.isNull() ? space::Handle() : space::Handle(space, s.writable);
    update(s.fd, w);
  }
}

}  // namespace vm
