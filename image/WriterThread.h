// WriterThread: the background writer of CowCapture and CopyCapture. Runs a body that
// writes the segment files, then a cleanup that must run whatever happened (lifting
// protection); records the segments, the time from start to the last fsync, and the first
// failure's message.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "image/BackgroundPriority.h"
#include "image/PageWriter.h"

namespace image {

class WriterThread {
 public:
  using Body = std::function<void(std::vector<SegmentFile>& segments, const std::atomic<bool>& stop)>;
  using Cleanup = std::function<void()>;

  // `lowering`: when the body's threads leave the program's priority (BackgroundPriority.h).
  WriterThread(Body body, Cleanup cleanup, Lowering lowering = Lowering::AtOnce);
  ~WriterThread();  // asks the body to stop and joins
  WriterThread(const WriterThread&) = delete;
  WriterThread& operator=(const WriterThread&) = delete;

  bool finished() const { return finished_.load(std::memory_order_acquire); }
  // Joins; throws std::runtime_error with the failure's message if the body failed.
  void join();
  const std::vector<SegmentFile>& segments() const { return segments_; }
  int64_t micros() const { return micros_; }
  // Someone waits for the writer: its threads go back to the program's priority
  // (BackgroundPriority.h). Answers false if the kernel refused.
  bool raisePriority() { return threads_.raise(); }

 private:
  std::vector<SegmentFile> segments_;
  std::string failure_;  // empty unless the body threw
  int64_t micros_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  BackgroundThreads threads_;  // made here, on the program's thread; the body's threads join it
  std::thread thread_;         // last: starts once everything above is ready
};

}  // namespace image
