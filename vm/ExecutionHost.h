// ExecutionHost: what a Runtime asks of whoever runs it when it cannot go on by itself —
// waiting for events, being paused for an update, a pause given up. The standalone host
// (the default behaviour of these methods) blocks in the space's own event poller;
// hypervisor::SpaceHost instead switches back to the host loop, which waits for the
// events of both spaces at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vm {

class Runtime;

// A process that had not stopped at an update point when a pause was abandoned.
struct ProcessReport {
  std::string name;
  int priority = 0;
  std::string state;  // "running" or "ready"
  std::string where;  // innermost frames, "Class>>selector (line N)" one per line
};

struct PauseReport {
  std::vector<ProcessReport> notArrived;
  size_t arrived = 0;  // processes that had parked at an update point
  int64_t waitedMicros = 0;
  std::string describe() const;
};

class ExecutionHost {
 public:
  virtual ~ExecutionHost() = default;
  // Nothing is runnable: block until an event may have arrived and deliver it (see
  // Scheduler::waitForEvents). Answers false when nothing could ever wake a process.
  virtual bool waitForEvents(Runtime& rt);
  // Every process has parked at an update point or is blocked: the space is paused.
  // Returns when the pause should end; meanwhile the host may inspect and change the
  // space, and evaluate code in it (Runtime::evaluate runs exclusively while paused).
  virtual void paused(Runtime& rt);
  // The pause deadline passed first: the parked processes were made ready again and the
  // space goes on running untouched.
  virtual void pauseAbandoned(Runtime& rt, const PauseReport& report);
  // Every heartbeat (about once a millisecond) while the interpreter runs.
  virtual void interrupted(Runtime&) {}
};

}  // namespace vm
