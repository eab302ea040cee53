// Snapshots: see Snapshots.h.
#include "hypervisor/Snapshots.h"

#include <poll.h>

#include <filesystem>
#include <functional>
#include <future>

#include "space/ThreadUsage.h"
#include "vm/Scheduler.h"

namespace hypervisor {

namespace {

// While the pages are written the host loop keeps the guest running; the control
// socket's other requests wait until the snapshot is answered (they are served one at a
// time), so its descriptors must not cut the guest's time slices short meanwhile.
struct HostEventsSuspended {
  Vm& vm;
  std::function<std::vector<pollfd>()> saved;
  explicit HostEventsSuspended(Vm& v) : vm(v), saved(v.hostEvents()) { vm.setHostEvents(nullptr); }
  ~HostEventsSuspended() { vm.setHostEvents(saved); }
};

constexpr std::chrono::microseconds kWriterSlice = std::chrono::milliseconds(2);

// A cow snapshot's writer takes the nursery first, at the program's priority (PageWriter),
// but the next scavenge writes the header of every survivor in eden: a fault, and a copy
// saved, for each page the writer has not reached. On the busy hub an eden nearly full at
// the pause was scavenged 11 ms after it, and that scavenge took 51 ms. So a nursery more
// than a quarter full is emptied by a scavenge before the pause, in a pause of its own,
// and the guest is served between the two: the snapshot's pause then captures the
// survivors and what the guest allocated since, and the next scavenge is most of an eden
// away.
bool worthScavengingAhead(const space::Space& space) {
  const space::BumpRegion& eden = space.nursery().eden;
  return eden.used() > eden.capacity() / 4;
}

// In a pause of the guest: scavenges, resumes, and answers the scavenge's time.
int64_t scavengeAndResume(Vm& vm, space::Space& space) {
  int64_t start = vm::Scheduler::nowMicros();
  try {
    space.scavenge();
  } catch (...) {
    vm.resumeGuest();
    throw;
  }
  int64_t took = vm::Scheduler::nowMicros() - start;
  vm.resumeGuest();  // runs the guest up to its next heartbeat
  return took;
}

}  // namespace

image::SnapshotReport takeSnapshot(Vm& vm, const SnapshotRequest& request) {
  using vm::Scheduler;
  if (request.space != "guest" && request.space != "hypervisor") {
    throw image::ImageError("unknown space '" + request.space + "' (expected guest or hypervisor)");
  }
  int64_t requested = Scheduler::nowMicros();
  bool guest = request.space == "guest";
  SpaceHost& host = guest ? vm.guest() : vm.hypervisor();
  // An update holds a checkpoint of the guest's pages until it ends; the control socket
  // serves one request at a time, so a snapshot requested there waits for the update.
  // Only the update's own code (a Smalltalk script calling Guest snapshotTo:) gets here.
  if (host.space().checkpoint()) {
    throw image::ImageError("the " + request.space + " is being updated: a snapshot cannot be taken inside an update");
  }
  std::string directory = request.directory;
  if (!directory.empty() && directory[0] != '/') directory = std::filesystem::absolute(directory).string();
  image::ImageWriter writer(directory, request.mode);
  // Keeps the guest running, a slice at a time, until `done`: while a snapshot's
  // protection is armed ahead of the pause, and while its pages are written.
  auto runGuestUntil = [&vm](const std::function<bool()>& done) {
    while (!done()) {
      if (!vm.guestStarted() || vm.guestFinished() || vm.guestPaused()) {
        ::poll(nullptr, 0, 1);  // nothing of ours to run: the other threads work alone
      } else {
        vm.runGuestFor(kWriterSlice);
      }
    }
  };
  bool pausedByUs = false;
  int64_t scavengedAhead = 0;
  if (guest) {
    if (vm.guestFinished()) throw image::ImageError("the guest program has ended: nothing to snapshot");
    if (!vm.guestPaused()) {
      // A lazy sweep still running ends first, the guest served between its steps: the
      // arming would end it at once (an image records old space swept).
      host.space().finishSweepingBetween([&vm] { vm.serveGuest(kWriterSlice); });
      // The guest runs on while its pages are protected; the pause then protects only
      // what it wrote meanwhile.
      if (writer.arm(host.space())) {
        HostEventsSuspended suspended(vm);
        runGuestUntil([&writer] { return writer.armed(); });
      }
      auto pauseGuest = [&vm, &request] {
        PauseOutcome outcome = vm.pauseGuest(request.pauseDeadline);
        if (outcome == PauseOutcome::GuestFinished) {
          throw image::ImageError("the guest program ended while pausing for the snapshot");
        }
        if (outcome == PauseOutcome::Abandoned) {
          throw image::ImageError("the guest did not reach its update points within " +
                                  std::to_string(request.pauseDeadline.count() / 1000) +
                                  " ms; nothing was written: " + vm.lastPauseReport().describe());
        }
      };
      if (request.mode == image::CaptureMode::Cow && worthScavengingAhead(host.space())) {
        pauseGuest();
        scavengedAhead = scavengeAndResume(vm, host.space());
      }
      pauseGuest();
      pausedByUs = true;
    }
  }
  int64_t paused = Scheduler::nowMicros();
  int64_t pausedCpu = space::threadCpuMicros();
  try {
    writer.capture(host.space(), host.runtime(), request.space);
  } catch (...) {
    if (pausedByUs) vm.resumeGuest();
    throw;
  }
  // The pause ends here; resumeGuest then runs the guest up to its next heartbeat.
  int64_t resumed = Scheduler::nowMicros();
  int64_t resumedCpu = space::threadCpuMicros();
  if (pausedByUs) vm.resumeGuest();
  image::SnapshotReport report;
  {
    HostEventsSuspended suspended(vm);
    runGuestUntil([&writer] { return writer.finished(); });
    // The manifest, the fsyncs and the rename take tens of milliseconds: the guest runs on
    // meanwhile (finish() no longer touches its space).
    writer.releaseSpace();
    std::future<image::SnapshotReport> finished = std::async(std::launch::async, [&writer] { return writer.finish(); });
    runGuestUntil([&finished] { return finished.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
    report = finished.get();
  }
  report.reachPauseMicros = paused - requested;
  report.scavengeAheadMicros = scavengedAhead;
  report.pauseMicros = resumed - paused;
  report.pauseCpuMicros = resumedCpu - pausedCpu;
  report.totalMicros = Scheduler::nowMicros() - requested;
  return report;
}

}  // namespace hypervisor
