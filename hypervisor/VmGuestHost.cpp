// VmGuestHost: see VmGuestHost.h.
#include "hypervisor/VmGuestHost.h"

#include "vm/ClassLoader.h"
#include "vm/Objects.h"

namespace hypervisor {

chester::PauseResult VmGuestHost::pause(std::chrono::microseconds deadline) {
  chester::PauseResult result;
  PauseOutcome outcome = vm_.pauseGuest(deadline);
  result.micros = vm_.lastPauseMicros();
  switch (outcome) {
    case PauseOutcome::Paused:
      result.kind = chester::PauseResult::Kind::Paused;
      break;
    case PauseOutcome::Abandoned:
      result.kind = chester::PauseResult::Kind::TimedOut;
      result.notArrived = vm_.lastPauseReport().describe();
      break;
    case PauseOutcome::GuestFinished:
      result.kind = chester::PauseResult::Kind::GuestFinished;
      break;
  }
  return result;
}

std::string VmGuestHost::loadHypervisorClass(const std::string& source, const std::string& fileName) {
  std::string name;
  vm::Runtime& rt = vm_.hypervisor().runtime();
  vm_.runInHypervisor([&] { name = vm::className(rt, rt.loader().loadSource(source, fileName)); });
  return name;
}

}  // namespace hypervisor
