// BackgroundPriority: see BackgroundPriority.h.
#include "image/BackgroundPriority.h"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace image {

namespace {

// Lowers thread `tid` of this process (best effort).
void lowerThread(pid_t tid) {
  if (const char* forced = std::getenv("ESPELL_SNAPSHOT_NICE"); forced && std::strcmp(forced, "idle") != 0) {
    // On Linux the niceness is per thread: PRIO_PROCESS with a thread id sets that thread's.
    int nice = std::atoi(forced);
    if (nice > 0) setpriority(PRIO_PROCESS, id_t(tid), nice);
    return;
  }
  // Only cores nothing else wants; a wakeup of any other thread preempts it at once.
  sched_param none{};
  sched_setscheduler(tid, SCHED_IDLE, &none);
}

thread_local BackgroundThreads* currentGroup = nullptr;

int niceOf(pid_t tid) {
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, id_t(tid));
  return errno == 0 ? nice : 0;
}

}  // namespace

void lowerThreadPriority() {
  lowerThread(gettid());
}

BackgroundThreads::BackgroundThreads(Lowering lowering)
    : programNice_(niceOf(gettid())), lowered_(lowering == Lowering::AtOnce) {}

BackgroundThreads::Member::Member(BackgroundThreads* group) : group_(group), tid_(gettid()), outer_(currentGroup) {
  currentGroup = group;
  if (!group) {
    lowerThreadPriority();
    return;
  }
  std::lock_guard<std::mutex> lock(group->mutex_);
  group->members_.push_back(tid_);
  if (group->lowered_ && !group->raised_) lowerThreadPriority();
}

BackgroundThreads::Member::~Member() {
  currentGroup = outer_;
  if (!group_) return;
  std::lock_guard<std::mutex> lock(group_->mutex_);
  auto& members = group_->members_;
  members.erase(std::find(members.begin(), members.end(), tid_));
}

BackgroundThreads* BackgroundThreads::current() {
  return currentGroup;
}

void BackgroundThreads::lower() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (lowered_) return;
  lowered_ = true;
  if (raised_) return;
  // Only while its Member stands (members_ under mutex_): the id cannot have been reused.
  // The calling thread last: once lowered, it may wait for a core before it goes on.
  pid_t self = gettid();
  for (pid_t tid : members_)
    if (tid != self) lowerThread(tid);
  if (std::find(members_.begin(), members_.end(), self) != members_.end()) lowerThread(self);
}

bool BackgroundThreads::raise() {
  std::lock_guard<std::mutex> lock(mutex_);
  raised_ = true;
  bool all = true;
  for (pid_t tid : members_) all = raiseThread(tid) && all;
  return all;
}

bool BackgroundThreads::raiseThread(pid_t tid) const {
  // Only while its Member stands (members_ under mutex_): the id cannot have been reused.
  sched_param none{};
  if (sched_getscheduler(tid) != SCHED_OTHER && sched_setscheduler(tid, SCHED_OTHER, &none) != 0) return false;
  return niceOf(tid) == programNice_ || setpriority(PRIO_PROCESS, id_t(tid), programNice_) == 0;
}

bool BackgroundThreads::mayRaise() {
  // CAP_SYS_NICE is bit 23 of the effective capabilities.
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) == 0 && (std::stoull(line.substr(7), nullptr, 16) >> 23 & 1)) return true;
  }
  // Without it, RLIMIT_NICE must allow the niceness the threads go back to.
  rlimit limit{};
  return getrlimit(RLIMIT_NICE, &limit) == 0 && limit.rlim_cur >= rlim_t(20 - niceOf(gettid()));
}

}  // namespace image
