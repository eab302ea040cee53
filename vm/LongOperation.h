// Long operations: primitives whose work grows with their operands (large integer
// multiplication and division, conversions between digits and binary) can run for seconds
// on huge operands, while the interpreter checks for interrupts only between bytecodes.
// Such code calls LongOperation::poll() in its outer loops (each iteration a bounded amount
// of work). poll costs one load and a test until the heartbeat raises the interpreter's
// interrupt flag; then the interpreter that called the primitive gets control: it lets its
// host run (the hypervisor keeps serving while a guest multiplies) and reads SIGTERM /
// SIGINT. When the program is to end, poll throws LongOperationAbandoned, which unwinds the
// primitive (it has changed nothing in the heap yet: long operations work on C++ copies)
// and ends the run.
//
// A long primitive is not preempted for other processes or a pause: a pause requested
// meanwhile is abandoned at its deadline from inside the poll (the host is told at once)
// and changes nothing.
#pragma once

#include <atomic>
#include <cstddef>

namespace vm {

// Thrown out of a long operation whose program is ending; caught by Interpreter::run.
struct LongOperationAbandoned {};

class LongOperationWatcher {
 public:
  // The interrupt flag watched (set by the heartbeat thread).
  explicit LongOperationWatcher(const std::atomic<bool>& flag) : flag_(flag) {}
  virtual ~LongOperationWatcher() = default;
  LongOperationWatcher(const LongOperationWatcher&) = delete;
  LongOperationWatcher& operator=(const LongOperationWatcher&) = delete;
  // Called by poll once the flag is set; may throw LongOperationAbandoned.
  virtual void longOperationInterrupted() = 0;
  bool flagged() const { return flag_.load(std::memory_order_relaxed); }

 private:
  const std::atomic<bool>& flag_;
};

namespace LongOperation {

// The watcher of the interpreter running on this thread: set by Interpreter::run for as
// long as it runs, and saved and restored across fiber switches (hypervisor/Fiber.cpp),
// since two spaces' interpreters share a thread. Nothing on the hot path touches it.
// Initial-exec: one load from the thread pointer (the VM is linked statically).
inline thread_local LongOperationWatcher* current __attribute__((tls_model("initial-exec"))) = nullptr;

// Sets `current` for a scope and restores what it was.
class Scope {
 public:
  explicit Scope(LongOperationWatcher* w) : previous_(current) { current = w; }
  ~Scope() { current = previous_; }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  LongOperationWatcher* previous_;
};

// Operands from this many limbs (32 bits each) up poll: smaller work never takes long, and
// small operations also run outside primitives (the interpreter's overflow paths).
constexpr size_t kLimbs = 64;

inline void poll() {
  LongOperationWatcher* w = current;
  if (w != nullptr && w->flagged()) w->longOperationInterrupted();
}

}  // namespace LongOperation

}  // namespace vm
