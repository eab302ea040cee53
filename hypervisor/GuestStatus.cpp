// GuestStatus: see GuestStatus.h.
#include "hypervisor/GuestStatus.h"

#include <unistd.h>

#include "hypervisor/Vm.h"
#include "mop/SpaceMirror.h"

namespace hypervisor {

namespace {

// A process's state in a status report. Processes that were running or ready when the
// status request paused the guest are parked (Paused) only because of that request: they
// are reported as "runnable", and "paused" is kept for a pause somebody else holds.
const char* stateName(mop::ProcessStatus status, bool pausedForThisReport) {
  switch (status) {
    case mop::ProcessStatus::Running:
      return "running";
    case mop::ProcessStatus::Ready:
      return pausedForThisReport ? "runnable" : "ready";
    case mop::ProcessStatus::Waiting:
      return "waiting";
    case mop::ProcessStatus::Suspended:
      return "suspended";
    case mop::ProcessStatus::Paused:
      return pausedForThisReport ? "runnable" : "paused";
    case mop::ProcessStatus::Terminated:
      return "terminated";
    case mop::ProcessStatus::Terminating:
      return "terminating";
  }
  return "unknown";
}

// The longest of a kind of collection work as the VM's thread lived it: its wall time, the
// part the thread ran, and why it stopped otherwise (space/ThreadUsage.h).
nlohmann::json lived(const space::ThreadUsage& usage, uint64_t wallNanos) {
  return {{"micros", wallNanos / 1000},
          {"cpuMicros", usage.cpuNanos / 1000},
          {"faults", usage.faults},
          {"waits", usage.waits},
          {"preemptions", usage.preemptions}};
}

}  // namespace

GuestStatus::GuestStatus(Vm& vm, std::string program, std::vector<std::string> arguments)
    : vm_(vm),
      program_(std::move(program)),
      arguments_(std::move(arguments)),
      started_(std::chrono::steady_clock::now()),
      updatesApplied_([] { return int64_t(0); }) {}

nlohmann::json GuestStatus::answer() {
  nlohmann::json status;
  status["state"] = vm_.guestFinished() ? "finished" : vm_.guestPaused() ? "paused" : "running";
  status["uptimeSeconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  status["pid"] = ::getpid();
  status["program"] = program_;
  status["arguments"] = arguments_;
  // Heap figures first: listing the processes must not show up in them.
  status["heap"] = heap();
  std::string unavailable;
  status["processes"] = processes(unavailable);
  if (!unavailable.empty()) status["processesUnavailable"] = unavailable;
  status["updatesApplied"] = updatesApplied_ ? updatesApplied_() : 0;
  return {{"ok", true}, {"status", std::move(status)}};
}

// Plain counters of the guest's space, read between the guest's time slices (its fiber
// is suspended at a yield point), so no pause is needed.
nlohmann::json GuestStatus::heap() const {
  space::Space& space = vm_.guest().space();
  const space::GcStats& stats = space.stats();
  return {
      {"oldSpaceCommittedBytes", space.oldSpace().committedBytes()},
      {"liveBytesAtLastFullCollection", space.oldSpace().liveBytesAtLastSweep()},
      {"edenBytes", space.nursery().eden.capacity()},
      {"scavenges", stats.scavenges},
      {"fullCollections", stats.fullCollections},
      {"maxScavengeMicros", stats.maxScavengeNanos / 1000},
      {"scavengeMicros", stats.scavengeNanos / 1000},
      {"scavengeCpuMicros", stats.scavengeCpuNanos / 1000},
      {"longestScavenge", lived(stats.longestScavenge, stats.maxScavengeNanos)},
      {"maxFullCollectionMicros", stats.maxFullCollectionNanos / 1000},
      {"fullCollectionMicros", stats.fullCollectionNanos / 1000},
      {"fullCollectionMarkMicros", stats.fullCollectionMarkNanos / 1000},
      {"fullCollectionSweepMicros", stats.fullCollectionSweepNanos / 1000},
      {"fullCollectionReleaseMicros", stats.fullCollectionReleaseNanos / 1000},
      {"incrementalMarkings", stats.incrementalMarkings},
      {"incrementalCollections", stats.incrementalCollections},
      {"abandonedMarkings", stats.abandonedMarkings},
      {"markingSteps", stats.markingSteps},
      {"markingStepMicros", stats.markingStepNanos / 1000},
      {"maxMarkingStepMicros", stats.maxMarkingStepNanos / 1000},
      {"markingStepCpuMicros", stats.markingStepCpuNanos / 1000},
      {"longestMarkingStep", lived(stats.longestMarkingStep, stats.maxMarkingStepNanos)},
      {"lazySweeps", stats.lazySweeps},
      {"droppedLazySweeps", stats.droppedLazySweeps},
      {"lazySweepsFinishedAtOnce", stats.lazySweepsFinishedAtOnce},
      {"lazySweepMicros", stats.lazySweepNanos / 1000},
      {"maxLazySweepStepMicros", stats.maxLazySweepStepNanos / 1000},
      {"collectorThreads", space.collectorThreads()},
  };
}

// The process list needs the guest paused: the mirrors read process objects only in a
// quiescent space, and between time slices the interpreter may hold a process's state in
// its registers. So the guest is paused with a short deadline (kPauseDeadline) and resumed
// at once; its processes wait a few milliseconds at their update points, which a status
// request (an operator's command, not a metric polled in a loop) can afford. Without the
// full collection of SpaceMirror::processes(): its cost grows with the heap.
nlohmann::json GuestStatus::processes(std::string& unavailable) {
  if (vm_.guestFinished()) {
    unavailable = "the guest has finished";
    return nullptr;
  }
  bool pausedHere = false;
  if (!vm_.guestPaused()) {
    PauseOutcome outcome = vm_.pauseGuest(kPauseDeadline);
    if (outcome == PauseOutcome::GuestFinished) {
      unavailable = "the guest has finished";
      return nullptr;
    }
    if (outcome == PauseOutcome::Abandoned) {
      unavailable =
          "the guest did not pause within " + std::to_string(kPauseDeadline.count()) + " ms; not at an update point:";
      for (const vm::ProcessReport& p : vm_.lastPauseReport().notArrived) {
        unavailable += " " + p.name + " (priority " + std::to_string(p.priority) + ", " + p.state + ")";
      }
      return nullptr;
    }
    pausedHere = true;
  }
  nlohmann::json list = nlohmann::json::array();
  try {
    mop::SpaceMirror mirror(vm_.guest().runtime());
    for (const mop::ProcessView& p : mirror.processesWithoutCollecting()) {
      list.push_back({{"name", p.name}, {"priority", p.priority}, {"state", stateName(p.status, pausedHere)}});
    }
  } catch (...) {
    if (pausedHere) vm_.resumeGuest();
    throw;
  }
  if (pausedHere) vm_.resumeGuest();
  return list;
}

}  // namespace hypervisor
