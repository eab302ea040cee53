// HashThread: see HashThread.h.
#include "image/HashThread.h"

#include "image/BackgroundPriority.h"

namespace image {

HashThread::HashThread()
    : thread_([this] {
        lowerThreadPriority();
        run();
      }) {}

HashThread::~HashThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

uint64_t HashThread::add(Sha256& sha, const void* data, size_t n) {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(Job{&sha, data, n});
    ticket = ++queued_;
  }
  changed_.notify_all();
  return ticket;
}

void HashThread::waitFor(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return hashed_ >= ticket; });
}

void HashThread::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing is left
    Job job = jobs_.front();
    lock.unlock();
    job.sha->add(job.data, job.n);
    lock.lock();
    jobs_.pop_front();
    hashed_++;
    changed_.notify_all();
  }
}

}  // namespace image
