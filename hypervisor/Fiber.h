// Fiber: a Boost.Context fiber with its own guarded stack, on which one space's
// interpreter runs. Switching is symmetric: whoever calls resume() (the host loop or
// another fiber) gets control back when the fiber calls suspend() or its body ends.
// Under AddressSanitizer every switch is announced so ASan follows the stack changes.
#pragma once

#include <boost/context/fiber.hpp>
#include <cstddef>
#include <exception>
#include <functional>

namespace hypervisor {

class Fiber {
 public:
  static constexpr size_t kDefaultStackBytes = size_t(8) << 20;

  Fiber(std::function<void()> body, size_t stackBytes = kDefaultStackBytes);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Runs the fiber until it suspends or its body ends; rethrows what the body threw.
  void resume();
  // Inside the fiber: back to the context that resumed it.
  void suspend();
  bool finished() const { return finished_; }
  bool started() const { return started_; }
  bool running() const { return running_; }

 private:
  struct StackRecorder;

  std::function<void()> body_;
  boost::context::fiber self_;    // the suspended fiber (empty while it runs)
  boost::context::fiber caller_;  // inside the fiber: whoever resumed it
  std::exception_ptr failure_;
  bool finished_ = false;
  bool started_ = false;
  bool running_ = false;
  // Stack bounds for the sanitizer's fiber-switch annotations.
  const void* stackBottom_ = nullptr;
  size_t stackSize_ = 0;
  const void* callerBottom_ = nullptr;
  size_t callerSize_ = 0;
};

}  // namespace hypervisor
