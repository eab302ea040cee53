// espell: the command-line entry point.
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "chester/Updater.h"
#include "hypervisor/CommandLine.h"
#include "hypervisor/Console.h"
#include "hypervisor/ControlCommands.h"
#include "hypervisor/ControlServer.h"
#include "hypervisor/ExitStatus.h"
#include "hypervisor/GuestStatus.h"
#include "hypervisor/HostCommands.h"
#include "hypervisor/Snapshots.h"
#include "hypervisor/Vm.h"
#include "hypervisor/VmGuestHost.h"
#include "image/ImageLoader.h"
#include "space/Space.h"
#include "vm/ClassLoader.h"
#include "vm/Disassembler.h"
#include "vm/Runtime.h"
#include "vm/RuntimeImage.h"
#include "vm/Scheduler.h"
#include "vm/compiler/SourceLocation.h"

namespace {

space::SpaceConfig spaceConfig(const hypervisor::CommandLine& cl, const char* name) {
  space::SpaceConfig c;
  c.name = name;
  c.maxOldBytes = cl.heapMiB << 20;
  c.edenBytes = cl.edenMiB << 20;
  c.survivorBytes = c.edenBytes / 4;
  c.measureLive = cl.measureLive;
  c.collectorThreads = cl.gcThreads;
  // Address space for the nursery and for old space up to twice its limit (a promotion
  // may exceed the limit for a while); reserving no more keeps tools like valgrind happy.
  c.reservationBytes = 2 * c.maxOldBytes + 2 * (c.edenBytes + 2 * c.survivorBytes) + (size_t(64) << 20);
  c.preferredBase = hypervisor::kGuestSpaceBase;
  return c;
}

// Peak resident memory of this process image (VmHWM): unlike getrusage's ru_maxrss it
// does not include the memory of the process that forked us before exec.
double peakRssMiB() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kib = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib / 1024.0;
}

void printGcStats(space::Space& space) {
  const space::GcStats& s = space.stats();
  std::fprintf(
      stderr,
      "gc: %llu scavenges (%.1f ms total, %.2f ms max), %llu full collections (%.1f ms total, %.2f ms max; "
      "marking %.1f ms, sweeping %.1f ms of which giving pages back %.1f ms, on %u threads)\n"
      "gc: allocated %.1f MiB young + %.1f MiB old, promoted %.1f MiB; old space %.1f MiB committed, "
      "%.1f MiB live at the last full collection (peak %.1f MiB)\n",
      static_cast<unsigned long long>(s.scavenges), double(s.scavengeNanos) / 1e6, double(s.maxScavengeNanos) / 1e6,
      static_cast<unsigned long long>(s.fullCollections), double(s.fullCollectionNanos) / 1e6,
      double(s.maxFullCollectionNanos) / 1e6, double(s.fullCollectionMarkNanos) / 1e6,
      double(s.fullCollectionSweepNanos) / 1e6, double(s.fullCollectionReleaseNanos) / 1e6, space.collectorThreads(),
      double(s.bytesAllocatedYoung + space.nursery().eden.used()) / 1048576.0, double(s.bytesAllocatedOld) / 1048576.0,
      double(s.bytesPromoted) / 1048576.0, double(space.oldSpace().committedBytes()) / 1048576.0,
      double(space.oldSpace().liveBytesAtLastSweep()) / 1048576.0, double(s.peakLiveBytes) / 1048576.0);
  std::fprintf(stderr,
               "gc: %llu markings in steps (%llu finished by a full collection, %llu dropped), %llu steps "
               "(%.1f ms total, %.2f ms max)\n",
               static_cast<unsigned long long>(s.incrementalMarkings),
               static_cast<unsigned long long>(s.incrementalCollections),
               static_cast<unsigned long long>(s.abandonedMarkings), static_cast<unsigned long long>(s.markingSteps),
               double(s.markingStepNanos) / 1e6, double(s.maxMarkingStepNanos) / 1e6);
  std::fprintf(stderr,
               "gc: %llu sweeps run lazily (%llu dropped, %llu ended at once by a heap walk), %.1f ms sweeping "
               "outside the pauses, %.2f ms the longest stretch\n",
               static_cast<unsigned long long>(s.lazySweeps), static_cast<unsigned long long>(s.droppedLazySweeps),
               static_cast<unsigned long long>(s.lazySweepsFinishedAtOnce), double(s.lazySweepNanos) / 1e6,
               double(s.maxLazySweepStepNanos) / 1e6);
  // Wall time against the thread's own: the rest it waited for a core or a page (ThreadUsage.h).
  auto lived = [](const space::ThreadUsage& u, uint64_t wallNanos) {
    char text[160];
    std::snprintf(text, sizeof text, "%.2f of %.2f ms (%llu faults, %llu waits, %llu preemptions)",
                  double(u.cpuNanos) / 1e6, double(wallNanos) / 1e6, static_cast<unsigned long long>(u.faults),
                  static_cast<unsigned long long>(u.waits), static_cast<unsigned long long>(u.preemptions));
    return std::string(text);
  };
  std::fprintf(stderr,
               "gc: the thread ran %.1f of the scavenges' %.1f ms and %.1f of the marking steps' %.1f ms; the "
               "longest scavenge ran %s, the longest marking step %s\n",
               double(s.scavengeCpuNanos) / 1e6, double(s.scavengeNanos) / 1e6, double(s.markingStepCpuNanos) / 1e6,
               double(s.markingStepNanos) / 1e6, lived(s.longestScavenge, s.maxScavengeNanos).c_str(),
               lived(s.longestMarkingStep, s.maxMarkingStepNanos).c_str());
  std::fprintf(stderr, "gc: peak RSS %.1f MiB; %llu releases while idle gave back %.1f MiB\n", peakRssMiB(),
               static_cast<unsigned long long>(s.idleReleases), double(s.idleReleasedBytes) / 1048576.0);
}

image::LoadOptions loadOptions(const hypervisor::CommandLine& cl) {
  image::LoadOptions options;
  options.verification = cl.trustImage         ? image::Verification::Trusted
                         : cl.verifyImageFirst ? image::Verification::First
                                               : image::Verification::FirstTouch;
  // A segment that fails its check once the program runs ends it as a refused image does:
  // ImageLoader's default prints the same message and exits with ExitStatus::BadImage.
  static_assert(hypervisor::code(hypervisor::ExitStatus::BadImage) == image::kBadImageExitStatus);
  if (cl.gcStats) {
    options.onChecked = [](const image::FirstTouchStats& s) {
      std::fprintf(stderr,
                   "image: %zu segments (%.1f MiB) checked on first touch in %.1f ms beside the program; %zu "
                   "faults waited %.1f ms for theirs\n",
                   s.segments, double(s.bytes) / 1048576.0, double(s.micros) / 1000.0, s.faultsWaited,
                   double(s.faultWaitMicros) / 1000.0);
    };
  }
  return options;
}

void printLoadReport(const image::LoadReport& r) {
  char before[64];
  std::snprintf(before, sizeof before, "checked before starting (%.1f ms)", double(r.verifyMicros) / 1000.0);
  std::string checks = r.verification == image::Verification::Trusted ? "not checked (trusted)"
                       : r.verification == image::Verification::First
                           ? before
                           : "checked on first touch (the program starts now)";
  std::fprintf(stderr, "image: %.1f MiB mapped in %.2f ms; checksums %s; %s\n", double(r.bytesMapped) / 1048576.0,
               double(r.mapMicros) / 1000.0, checks.c_str(),
               r.relocated ? ("relocated " + std::to_string(r.objectsRelocated) + " objects in " +
                              std::to_string(r.relocateMicros / 1000) + " ms")
                                 .c_str()
                           : "at the recorded address (no relocation)");
}

// The update engine's control commands: `update` (a request {"command":"update",
// "name":FILE NAME,"script":TEXT[,"deadlineMs":N]}, answered {"ok":true,"record":{...}})
// and `updates` (answered {"ok":true,"records":[...]}, oldest first). A handler runs
// inside ControlServer::poll, between guest time slices, and applies the whole update —
// pause, apply, verify, commit or roll back, resume — before it answers: requests are
// handled one at a time, so updates are serialised. Answers how many updates have been
// committed so far, for `status`.
std::function<int64_t()> registerUpdateCommands(chester::Updater& updater, hypervisor::HostCommands& server) {
  server.on("update", [&updater](const nlohmann::json& request) {
    auto field = [&](const char* key) -> const std::string& {
      auto it = request.find(key);
      if (it == request.end() || !it->is_string()) {
        throw std::runtime_error(std::string("an update request needs \"") + key + "\" (a string)");
      }
      return it->get_ref<const std::string&>();
    };
    const std::string& name = field("name");
    if (name.empty() || name.size() > 255 || name.find('/') != std::string::npos) {
      throw std::runtime_error("\"name\" must be a file name (no directory), 1 to 255 characters");
    }
    std::optional<std::chrono::microseconds> deadline;
    if (auto d = request.find("deadlineMs"); d != request.end()) {
      if (!d->is_number_integer() || d->get<int64_t>() < 1 || d->get<int64_t>() > 600000) {
        throw std::runtime_error("\"deadlineMs\" must be an integer from 1 to 600000");
      }
      deadline = std::chrono::milliseconds(d->get<int64_t>());
    }
    chester::UpdateRecord record = updater.apply({name, field("script")}, deadline);
    return nlohmann::json{{"ok", true}, {"record", record.toJson()}};
  });
  server.on("updates", [&updater](const nlohmann::json&) {
    nlohmann::json records = nlohmann::json::array();
    for (const chester::UpdateRecord& r : updater.records()) records.push_back(r.toJson());
    return nlohmann::json{{"ok", true}, {"records", records}};
  });
  return [&updater] { return int64_t(updater.committed()); };
}

// The `snapshot` command: a request {"command":"snapshot","directory":ABSOLUTE PATH
// [,"space":"guest"|"hypervisor"][,"mode":"cow"|"copy"|"fork"][,"deadlineMs":N]}, answered
// {"ok":true,"report":{...,"text":...}} once the image is in place. Like an update it runs
// inside ControlServer::poll: the guest keeps running while the pages are written
// (takeSnapshot drives it), and other requests wait, so a snapshot and an update never
// overlap.
void registerSnapshotCommand(hypervisor::Vm& vm, hypervisor::HostCommands& server,
                             std::chrono::microseconds defaultDeadline) {
  server.on("snapshot", [&vm, defaultDeadline](const nlohmann::json& request) {
    hypervisor::SnapshotRequest r;
    auto text = [&](const char* key, std::string& out, bool required) {
      auto it = request.find(key);
      if (it == request.end()) {
        if (required) throw std::runtime_error(std::string("a snapshot request needs \"") + key + "\" (a string)");
        return;
      }
      if (!it->is_string()) throw std::runtime_error(std::string("\"") + key + "\" must be a string");
      out = it->get<std::string>();
    };
    text("directory", r.directory, true);
    if (r.directory.empty() || r.directory[0] != '/') {
      throw std::runtime_error("\"directory\" must be an absolute path");
    }
    text("space", r.space, false);
    // A snapshot captures a space that waits between jobs; a hypervisor serving the console
    // runs a program of its own, whose processes may be mid-way when the capture comes.
    if (r.space == "hypervisor" && vm.hypervisorProgramRunning()) {
      throw std::runtime_error("the hypervisor space runs the console: it cannot be snapshotted while it serves");
    }
    std::string mode = "cow";
    text("mode", mode, false);
    r.mode = image::parseCaptureMode(mode);
    r.pauseDeadline = defaultDeadline;
    if (auto d = request.find("deadlineMs"); d != request.end()) {
      if (!d->is_number_integer() || d->get<int64_t>() < 1 || d->get<int64_t>() > 600000) {
        throw std::runtime_error("\"deadlineMs\" must be an integer from 1 to 600000");
      }
      r.pauseDeadline = std::chrono::milliseconds(d->get<int64_t>());
    }
    image::SnapshotReport report = hypervisor::takeSnapshot(vm, r);
    nlohmann::json j = nlohmann::json::parse(report.toJson());
    j["text"] = report.toText();
    return nlohmann::json{{"ok", true}, {"report", j}};
  });
}

// The host loop's longest guest time slice: the loop also wakes up as soon as the
// control socket or the console has work (Vm::setHostEvents) or one of its deadlines comes.
constexpr std::chrono::microseconds kGuestSlice = std::chrono::milliseconds(100);

// Runs the guest's program to its end while serving the control socket at cl.controlSocket
// and the console on cl.consolePort (either or both) between its time slices. The socket
// exists before the program starts (a path that is taken ends the command before anything
// ran) and is removed when the program ends, whether by itself or by SIGTERM / SIGINT
// (which reach the guest as before); the console ends with the guest.
vm::ProgramOutcome runServingHost(hypervisor::Vm& vm, const hypervisor::CommandLine& cl) {
  std::unique_ptr<hypervisor::ControlServer> server;
  if (!cl.controlSocket.empty()) server = std::make_unique<hypervisor::ControlServer>(cl.controlSocket);
  hypervisor::HostCommands commands;
  hypervisor::GuestStatus status(vm, cl.image.empty() ? cl.program : "image " + cl.image, cl.arguments);
  commands.on("status", [&status](const nlohmann::json&) { return status.answer(); });
  hypervisor::VmGuestHost host(vm);
  chester::UpdaterOptions options;
  if (cl.deadlineMs != 0) options.pauseDeadline = std::chrono::milliseconds(cl.deadlineMs);
  options.logPath = cl.updateLog;
  chester::Updater updater(host, options);
  status.setUpdatesApplied(registerUpdateCommands(updater, commands));
  registerSnapshotCommand(vm, commands, options.pauseDeadline);
  if (server) {
    for (const auto& [name, handler] : commands.handlers()) server->on(name, handler);
  }
  std::unique_ptr<hypervisor::Console> console;
  if (cl.consolePort >= 0)
    console = std::make_unique<hypervisor::Console>(vm, commands, cl.consolePort, cl.consoleSnapshotDir);
  vm.setHostEvents([&server, &console] {
    std::vector<pollfd> fds;
    if (server) fds = server->pollDescriptors();
    if (console) {
      std::vector<pollfd> more = console->pollDescriptors();
      fds.insert(fds.end(), more.begin(), more.end());
    }
    return fds;
  });
  // The Vm must not keep watching the server's descriptors once it is gone, also when
  // an exception ends the loop.
  struct StopWatching {
    hypervisor::Vm& vm;
    ~StopWatching() { vm.setHostEvents(nullptr); }
  } stopWatching{vm};
  if (cl.image.empty()) {
    vm.startGuest(cl.program, cl.arguments);
  } else {
    vm.startGuestFromImage();
  }
  for (;;) {
    int64_t deadline = server ? server->nextDeadlineMicros() : INT64_MAX;
    if (console) deadline = std::min(deadline, console->nextDeadlineMicros());
    int64_t untilDeadline = deadline == INT64_MAX ? kGuestSlice.count() : deadline - vm::Scheduler::nowMicros();
    auto slice = std::chrono::microseconds(std::clamp<int64_t>(untilDeadline, 0, kGuestSlice.count()));
    if (vm.runGuestFor(slice)) break;
    if (server) server->poll();
    if (console) console->serve();
  }
  return vm.finishGuest();
}

// The program as the guest of a Vm, with the hypervisor space beside it (idle unless a
// control socket is served).
int runVirtualized(const hypervisor::CommandLine& cl) {
  hypervisor::VmConfig config;
  config.guest.space = spaceConfig(cl, "guest");
  // A guest that can be updated or snapshotted keeps old space's next segment written
  // ahead: an update's pause that opens one (an instance migration) finds it warm.
  config.guest.space.warmSpareSegment = !cl.controlSocket.empty() || cl.consolePort >= 0;
  config.guest.runtime.name = "guest";
  config.guest.runtime.classPath = cl.classPath;
  config.guest.runtime.maxStackSlots = (cl.maxStackMiB << 20) / sizeof(space::Oop);
  std::unique_ptr<hypervisor::Vm> vmOwner;
  if (cl.image.empty()) {
    vmOwner = std::make_unique<hypervisor::Vm>(config);
  } else {
    image::LoadReport report;
    image::LoadOptions options = loadOptions(cl);
    hypervisor::ResumeFromImage from{cl.image, image::readImage(cl.image, options, report), cl.arguments, options};
    vmOwner = std::make_unique<hypervisor::Vm>(config, from, report);
    if (cl.gcStats) printLoadReport(report);
  }
  hypervisor::Vm& vm = *vmOwner;
  vm::ProgramOutcome outcome;
  if (!cl.controlSocket.empty() || cl.consolePort >= 0) {
    outcome = runServingHost(vm, cl);
  } else if (cl.image.empty()) {
    outcome = vm.runGuest(cl.program, cl.arguments);
  } else {
    vm.startGuestFromImage();
    outcome = vm.finishGuest();
  }
  if (cl.gcStats) printGcStats(vm.guest().space());
  return hypervisor::reportOutcome(outcome, vm.guest().runtime().loader().classPath(), stderr);
}

// The program of an image, resumed in a space of its own (no hypervisor).
int resumeProgram(const hypervisor::CommandLine& cl) {
  image::LoadReport report;
  image::LoadOptions loading = loadOptions(cl);
  image::Manifest manifest = image::readImage(cl.image, loading, report);
  space::Space space(image::spaceConfigFor(manifest, spaceConfig(cl, "main")), space::Space::ForImage{});
  image::ImageMappings mappings;
  intptr_t delta = mappings.place(cl.image, manifest, space, loading, report);
  vm::RuntimeImageState state = manifest.runtimeState;
  if (delta != 0) vm::RuntimeImage::relocate(state, space::Relocation::of(manifest.spaceState, delta));
  vm::RuntimeOptions options;
  options.maxStackSlots = (cl.maxStackMiB << 20) / sizeof(space::Oop);
  vm::Runtime runtime(space, options);
  vm::RuntimeImage::adopt(runtime, state, cl.arguments);
  if (cl.gcStats) printLoadReport(report);
  vm::ProgramOutcome outcome = runtime.resumeMain();
  if (cl.gcStats) printGcStats(space);
  return hypervisor::reportOutcome(outcome, runtime.loader().classPath(), stderr);
}

int runProgram(const hypervisor::CommandLine& cl) {
  if (cl.virtualized) return runVirtualized(cl);
  if (!cl.image.empty()) return resumeProgram(cl);
  space::Space space(spaceConfig(cl, "main"));
  vm::RuntimeOptions options;
  options.classPath = cl.classPath;
  options.maxStackSlots = (cl.maxStackMiB << 20) / sizeof(space::Oop);
  vm::Runtime runtime(space, options);
  runtime.bootstrap();
  vm::ProgramOutcome outcome = runtime.runMain(cl.program, cl.arguments);
  if (cl.gcStats) printGcStats(space);
  return hypervisor::reportOutcome(outcome, runtime.loader().classPath(), stderr);
}

int disassembleProgram(const hypervisor::CommandLine& cl) {
  space::Space space(spaceConfig(cl, "main"));
  vm::RuntimeOptions options;
  options.classPath = cl.classPath;
  vm::Runtime runtime(space, options);
  runtime.bootstrap();
  vm::ProgramOutcome outcome;
  space::Oop cls = runtime.loadProgramClass(cl.program, outcome);
  if (cls.isNull()) return hypervisor::reportOutcome(outcome, runtime.loader().classPath(), stderr);
  std::fputs(vm::disassembleClass(runtime, cls).c_str(), stdout);
  return hypervisor::code(hypervisor::ExitStatus::Success);
}

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM and SIGINT are read through a signalfd by the scheduler (a clean exit);
  // block them before any thread starts so every thread inherits the mask. Broken
  // connections are reported by send(), not by SIGPIPE; a write past the file-size limit
  // (ulimit -f, systemd's LimitFSIZE) fails with EFBIG, which a snapshot reports naming
  // the file, instead of SIGXFSZ ending the VM and the service it runs.
  sigset_t termination;
  sigemptyset(&termination);
  sigaddset(&termination, SIGTERM);
  sigaddset(&termination, SIGINT);
  pthread_sigmask(SIG_BLOCK, &termination, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGXFSZ, SIG_IGN);
  std::string error;
  auto cl = hypervisor::parseCommandLine(argc, argv, error);
  if (!cl) {
    std::fprintf(stderr, "espell: %s\n%s", error.c_str(), hypervisor::usage());
    return hypervisor::code(hypervisor::ExitStatus::Usage);
  }
  try {
    switch (cl->command) {
      case hypervisor::CommandLine::Command::Help:
        std::fputs(hypervisor::usage(), stdout);
        return hypervisor::code(hypervisor::ExitStatus::Success);
      case hypervisor::CommandLine::Command::Version:
        std::puts("espell 0.1.0");
        return hypervisor::code(hypervisor::ExitStatus::Success);
      case hypervisor::CommandLine::Command::Run:
        return runProgram(*cl);
      case hypervisor::CommandLine::Command::Disassemble:
        return disassembleProgram(*cl);
      case hypervisor::CommandLine::Command::Update:
      case hypervisor::CommandLine::Command::Status:
      case hypervisor::CommandLine::Command::Updates:
      case hypervisor::CommandLine::Command::Snapshot:
        return hypervisor::runControlCommand(*cl, stdout, stderr);
    }
  } catch (const image::ImageError& e) {
    std::fprintf(stderr, "espell: the image cannot be used: %s\n", e.what());
    return hypervisor::code(hypervisor::ExitStatus::BadImage);
  } catch (const hypervisor::ControlSocketError& e) {
    std::fprintf(stderr, "espell: %s\n", e.what());
    return hypervisor::code(hypervisor::ExitStatus::ControlSocketUnavailable);
  } catch (const vm::CompileError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return hypervisor::code(hypervisor::ExitStatus::CompileError);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "espell: %s\n", e.what());
    return hypervisor::code(hypervisor::ExitStatus::InternalError);
  }
  return hypervisor::code(hypervisor::ExitStatus::InternalError);
}
