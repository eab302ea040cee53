// PendingSegments: see PendingSegments.h.
#include "image/PendingSegments.h"

#include <stdexcept>

#include "image/BackgroundPriority.h"
#include "space/ThreadName.h"

namespace image {

PendingSegments::PendingSegments(std::vector<SegmentFile>& done)
    : done_(done), thread_([this, group = BackgroundThreads::current()] {
        BackgroundThreads::Member member(group);
        space::nameThisThread("snap-fsync");  // once its priority is set: whoever finds it by name sees it
        run();
      }) {}

PendingSegments::~PendingSegments() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
  pending_.clear();  // closes what was not finished, unsynced
}

void PendingSegments::throwIfFailed() {
  if (!failure_.empty()) throw std::runtime_error(failure_);
}

void PendingSegments::add(std::unique_ptr<SegmentOutput> out, uintptr_t start) {
  out->startWriteback();
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return pending_.size() < kMaxPending || !failure_.empty(); });
  throwIfFailed();
  pending_.emplace_back(std::move(out), start);
  lock.unlock();
  changed_.notify_all();
}

void PendingSegments::finishAll() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return pending_.empty() || !failure_.empty(); });
  throwIfFailed();
}

void PendingSegments::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stop_ || (!pending_.empty() && failure_.empty()); });
    if (stop_) return;  // what is left is closed unsynced by the destructor
    SegmentOutput& out = *pending_.front().first;
    uintptr_t start = pending_.front().second;
    lock.unlock();
    std::string failure;
    SegmentFile file;
    try {
      file = out.finish(start);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    lock.lock();
    if (failure.empty()) {
      done_.push_back(std::move(file));
      pending_.pop_front();
    } else {
      failure_ = std::move(failure);
    }
    changed_.notify_all();
  }
}

}  // namespace image
