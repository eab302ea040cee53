// RuntimeCheckpoint: a point one space's runtime can be put back to exactly — the space's
// heap and memory state (space::SpaceCheckpoint) plus the runtime's own C++ state beside
// it: pending timers, I/O watches, the global table's count, an open batch of cache
// invalidations — after which every cache (method cache, fast-path guards, the classes
// the VM knows) is recomputed from the restored heap. Inline caches live in send sites,
// heap objects, and come back with the pages.
//
// Side effects outside the space cannot be undone: bytes a guest evaluation wrote to a
// socket stay written, and a descriptor it opened stays open (its Socket object is gone).
// Chester runs an update's guest code while every other guest process is parked, so such
// effects come only from the update's own code.
#pragma once

#include <memory>
#include <vector>

#include "space/SpaceCheckpoint.h"
#include "vm/IoPoller.h"
#include "vm/Scheduler.h"

namespace vm {

class Runtime;

class RuntimeCheckpoint {
 public:
  // The runtime must be quiescent (no process running: paused, or between jobs).
  explicit RuntimeCheckpoint(Runtime& rt);
  // Commits unless rolled back.
  ~RuntimeCheckpoint();
  RuntimeCheckpoint(const RuntimeCheckpoint&) = delete;
  RuntimeCheckpoint& operator=(const RuntimeCheckpoint&) = delete;

  void rollback();
  void commit();
  bool active() const { return space_.active(); }
  const space::SpaceCheckpoint& spaceCheckpoint() const { return space_; }

 private:
  Runtime& rt_;
  Scheduler::TimerState timers_;
  std::vector<IoPoller::WatchState> watches_;
  uint64_t pollsWithEvents_;
  space::SpaceCheckpoint space_;  // last: it starts tracking once the rest is saved
};

}  // namespace vm
