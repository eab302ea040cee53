// RuntimeCheckpoint: see RuntimeCheckpoint.h.
#include "vm/RuntimeCheckpoint.h"

#include <stdexcept>

#include "vm/ClassBuilder.h"
#include "vm/Interpreter.h"
#include "vm/MethodCache.h"
#include "vm/Runtime.h"

namespace vm {

namespace {
// Saves the C++ state the constructor needs before the space checkpoint starts.
Runtime& requireQuiescent(Runtime& rt) {
  if (rt.scheduler().activeProcess() != rt.nil()) {
    throw std::logic_error("a checkpoint of a runtime whose process is running");
  }
  return rt;
}
}  // namespace

RuntimeCheckpoint::RuntimeCheckpoint(Runtime& rt)
    : rt_(requireQuiescent(rt)),
      timers_(rt.scheduler().timers()),
      watches_(rt.scheduler().io().watches()),
      pollsWithEvents_(rt.scheduler().io().pollsWithEvents()),
      space_(rt.space()) {}

RuntimeCheckpoint::~RuntimeCheckpoint() {
  if (space_.active()) commit();
}

void RuntimeCheckpoint::commit() {
  space_.commit();
}

void RuntimeCheckpoint::rollback() {
  rt_.classes().abandonBatch();
  rt_.classes().forgetSendSites();  // it lists code the rollback takes away
  // 1. The heap and the space's own state (handles made since refer to nil).
  space_.rollback();
  // 2. The runtime's tables that hold guest objects through handles.
  rt_.scheduler().restoreTimers(timers_);
  rt_.scheduler().io().restoreWatches(rt_.space(), watches_, pollsWithEvents_);
  rt_.globals().reattach();
  // 3. Caches, recomputed from the restored heap.
  rt_.methodCache().flush();
  rt_.refreshCaches();
  rt_.interpreter().refreshGuards();
}

}  // namespace vm
