// PageReleaseThread: see PageReleaseThread.h.
#include "space/PageReleaseThread.h"
#include "space/ThreadName.h"

#include <pthread.h>
#include <sched.h>

namespace space {

PageReleaseThread& PageReleaseThread::instance() {
  // Never destroyed: a space destroyed at exit may still wait for its pages.
  static PageReleaseThread* the = new PageReleaseThread();
  return *the;
}

PageReleaseThread::Ticket PageReleaseThread::post(std::function<void()> job) {
  std::lock_guard lock(mutex_);
  if (!thread_.joinable())
    thread_ = std::thread([this] {
      nameThisThread("espell-pages");
      run();
    });
  jobs_.push_back(std::move(job));
  Ticket ticket = ++lastPosted_;
  posted_.notify_one();
  return ticket;
}

void PageReleaseThread::waitFor(Ticket ticket) {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return lastDone_ >= ticket; });
}

bool PageReleaseThread::finished(Ticket ticket) {
  std::lock_guard lock(mutex_);
  return lastDone_ >= ticket;
}

uint64_t PageReleaseThread::jobsDone() {
  std::lock_guard lock(mutex_);
  return lastDone_;
}

std::thread::id PageReleaseThread::threadId() {
  std::lock_guard lock(mutex_);
  return thread_.get_id();
}

void PageReleaseThread::run() {
  // Woken by a commit, an ordinary thread that slept long preempts the waker when the
  // other cores are busy, and the guest's pause waits for its mprotect calls. A batch
  // thread does not preempt on wakeup: it runs beside the guest, or after it.
  sched_param none{};
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &none);
  std::unique_lock lock(mutex_);
  for (;;) {
    posted_.wait(lock, [&] { return !jobs_.empty(); });
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
    lastDone_++;
    done_.notify_all();
  }
}

}  // namespace space
