// WriterThread: see WriterThread.h.
#include "image/WriterThread.h"

#include <stdexcept>

#include "image/BackgroundPriority.h"
#include "space/ThreadName.h"

namespace image {

WriterThread::WriterThread(Body body, Cleanup cleanup, Lowering lowering)
    : threads_(lowering), thread_([this, body = std::move(body), cleanup = std::move(cleanup)] {
        BackgroundThreads::Member member(&threads_);
        space::nameThisThread("snap-copy");  // once its priority is set: whoever finds it by name sees it
        auto start = std::chrono::steady_clock::now();
        try {
          body(segments_, stop_);
        } catch (const std::exception& e) {
          failure_ = e.what();
          if (failure_.empty()) failure_ = "writing failed";
        }
        micros_ =
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
        cleanup();
        finished_.store(true, std::memory_order_release);
      }) {}

WriterThread::~WriterThread() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

void WriterThread::join() {
  if (thread_.joinable()) thread_.join();
  if (!failure_.empty()) throw std::runtime_error(failure_);
}

}  // namespace image
