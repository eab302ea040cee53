// Vm: see Vm.h.
#include "hypervisor/Vm.h"

#include <poll.h>

#include <algorithm>
#include <future>
#include <stdexcept>

#include "hypervisor/Snapshots.h"
#include "vm/Scheduler.h"

namespace hypervisor {

VmConfig::VmConfig() {
  guest.space.name = "guest";
  // Fixed places for the two spaces, the same in every process, so that an image taken of
  // either is mapped back at its recorded addresses without relocation. Far from where the
  // kernel puts mappings (near 0x7f..) and above AddressSanitizer's shadow memory (which
  // ends at 0x10007fff7fff); a range that is taken falls back to anywhere.
  guest.space.preferredBase = kGuestSpaceBase;
  guest.runtime.name = "guest";
  // The hypervisor runs small update programs: a small heap.
  hypervisor.space.name = "hypervisor";
  hypervisor.space.edenBytes = size_t(4) << 20;
  hypervisor.space.survivorBytes = size_t(1) << 20;
  hypervisor.space.maxOldBytes = size_t(1) << 30;
  hypervisor.space.reservationBytes = size_t(8) << 30;
  hypervisor.space.preferredBase = kHypervisorSpaceBase;
  hypervisor.runtime.name = "hypervisor";
  hypervisor.suspendHeartbeatWhileIdle = true;
}

Vm::Vm(VmConfig config) : guest_(std::make_unique<SpaceHost>(config.guest)) {
  startBuildingHypervisor(config.hypervisor);
}

Vm::Vm(VmConfig config, const ResumeFromImage& guestImage, image::LoadReport& report)
    : guest_(std::make_unique<SpaceHost>(config.guest, guestImage, report)) {
  startBuildingHypervisor(config.hypervisor);
}

Vm::~Vm() {
  // The thread building the hypervisor holds the guest's runtime (the bridge): it ends first.
  if (hypervisorBuilt_.valid()) hypervisorBuilt_.wait();
}

// The hypervisor space is bootstrapped from source (its kernel and the mirror classes
// compiled: about 15 ms, more than a resumed guest takes to serve) on a thread of its own,
// while the guest starts on this one. The two spaces share no objects and the compiler no
// state; the guest is built first, so the bridge finds its runtime. Nothing touches the
// hypervisor before awaitHypervisor, which joins the thread.
void Vm::startBuildingHypervisor(const SpaceHostConfig& config) {
  hypervisorBuilt_ = std::async(std::launch::async, [this, config] {
    hypervisor_ = std::make_unique<SpaceHost>(config);
    installBridge();
  });
}

SpaceHost& Vm::awaitHypervisor() {
  if (hypervisorBuilt_.valid()) hypervisorBuilt_.get();  // rethrows what building it threw
  if (!hypervisor_ || !bridge_) throw std::runtime_error("the hypervisor space could not be built");
  return *hypervisor_;
}

// The mirror classes of the hypervisor space (global Guest) and what they ask of this Vm.
void Vm::installBridge() {
  bridge_ = std::make_unique<mop::MirrorBridge>(hypervisor_->runtime(), guest_->runtime(),
                                                [this](std::string_view source) { return evaluateInGuest(source); });
  bridge_->install();
  bridge_->setSnapshotter(
      [this](const std::string& directory) { return takeSnapshot(*this, SnapshotRequest{directory}).toText(); });
}

void Vm::startGuest(const std::string& program, const std::vector<std::string>& args) {
  startGuestJob([this, program, args] { guestOutcome_ = guest_->runtime().runMain(program, args); });
}

void Vm::startGuestFromImage() {
  startGuestJob([this] { guestOutcome_ = guest_->runtime().resumeMain(); });
}

void Vm::startGuestJob(std::function<void()> job) {
  if (guestStarted_) throw std::logic_error("the guest program was already started");
  guestStarted_ = true;
  // The program starts and runs until its first heartbeat (or first wait).
  guest_->setControlDeadline(vm::Scheduler::nowMicros());
  Yield y = guest_->startJob(std::move(job));
  guest_->setControlDeadline(INT64_MAX);
  if (y == Yield::JobDone) guestFinished_ = true;
}

vm::ProgramOutcome Vm::runGuest(const std::string& program, const std::vector<std::string>& args) {
  startGuest(program, args);
  return finishGuest();
}

vm::ProgramOutcome Vm::finishGuest() {
  if (guest_->isPaused()) throw std::logic_error("finishGuest: the guest is paused; resume it first");
  while (!guestFinished_) {
    if (drive(*guest_, guest_->resume()) == Yield::JobDone) guestFinished_ = true;
  }
  guest_->rethrowJobFailure();
  return guestOutcome_;
}

bool Vm::runGuestFor(std::chrono::microseconds budget) {
  if (guestFinished_) return true;
  if (guest_->isPaused()) throw std::logic_error("runGuestFor: the guest is paused");
  guest_->setControlDeadline(vm::Scheduler::nowMicros() + budget.count());
  for (;;) {
    Yield y = drive(*guest_, guest_->resume());
    if (y == Yield::JobDone) guestFinished_ = true;
    if (y == Yield::JobDone || y == Yield::Interrupted) break;
  }
  guest_->setControlDeadline(INT64_MAX);
  return guestFinished_;
}

PauseOutcome Vm::pauseGuest(std::chrono::microseconds deadline) {
  if (!guestStarted_) throw std::logic_error("pauseGuest: the guest program was not started");
  if (guestFinished_) return PauseOutcome::GuestFinished;
  if (guest_->isPaused()) return PauseOutcome::Paused;
  // What a pause is for (an update, a snapshot, which in fork mode forks the process)
  // finds the hypervisor built and its thread gone: at most once, before the deadline runs.
  awaitHypervisor();
  int64_t start = vm::Scheduler::nowMicros();
  guest_->runtime().requestPause(start + deadline.count());
  for (;;) {
    Yield y = drive(*guest_, guest_->resume());
    lastPauseMicros_ = vm::Scheduler::nowMicros() - start;
    switch (y) {
      case Yield::Paused:
        return PauseOutcome::Paused;
      case Yield::PauseAbandoned:
        return PauseOutcome::Abandoned;  // the next resume continues the guest
      case Yield::JobDone:
        guestFinished_ = true;
        return PauseOutcome::GuestFinished;
      default:
        break;  // Interrupted: keep going until the pause is reached or abandoned
    }
  }
}

void Vm::resumeGuest() {
  if (!guest_->isPaused()) return;
  guest_->endPause();
  // Let the guest leave paused(); it stops again at its next heartbeat.
  guest_->setControlDeadline(vm::Scheduler::nowMicros());
  for (;;) {
    Yield y = drive(*guest_, guest_->resume());
    if (y == Yield::JobDone) guestFinished_ = true;
    if (y == Yield::JobDone || y == Yield::Interrupted) break;
  }
  guest_->setControlDeadline(INT64_MAX);
}

void Vm::runGuestWhile(const std::function<bool()>& waiting, std::chrono::microseconds limit) {
  if (!guestStarted_ || guestFinished_ || guest_->isPaused()) return;
  int64_t until = vm::Scheduler::nowMicros() + limit.count();
  // In slices, so that `waiting` is asked again soon after it changes (a slice ends at
  // the guest's next heartbeat after it, or when the guest waits for events).
  constexpr int64_t kSliceMicros = 200;
  for (int64_t now = vm::Scheduler::nowMicros(); waiting() && now < until; now = vm::Scheduler::nowMicros()) {
    if (runGuestFor(std::chrono::microseconds(std::min(kSliceMicros, until - now)))) break;  // it ended
  }
}

void Vm::serveGuest(std::chrono::microseconds budget) {
  if (!guestStarted_ || guestFinished_ || guest_->isPaused()) return;
  int64_t until = vm::Scheduler::nowMicros() + budget.count();
  guest_->setControlDeadline(until);
  Yield y = guest_->resume();
  // Idle: it goes on only with what is there now (no poll timeout, no timer to wait for).
  while (y == Yield::Idle && vm::Scheduler::nowMicros() < until) {
    pollfd events{guest_->eventFd(), POLLIN, 0};
    if (::poll(&events, 1, 0) <= 0 && guest_->nextTimerDeadline() > vm::Scheduler::nowMicros()) break;
    y = guest_->resume();
  }
  if (y == Yield::JobDone) guestFinished_ = true;
  guest_->setControlDeadline(INT64_MAX);
}

void Vm::runInGuest(std::function<void()> job) {
  if (!guest_->isPaused()) throw std::logic_error("the guest must be paused to run code in it");
  runJobIn(*guest_, std::move(job));
}

void Vm::runInHypervisor(std::function<void()> job) {
  SpaceHost& hv = hypervisor();
  if (!hypervisorProgram_ || hv.isPaused()) {
    runJobIn(hv, std::move(job));
    return;
  }
  // The program's own code cannot ask for this: its fiber would have to resume itself.
  if (hv.onFiber()) throw std::logic_error("a hypervisor job cannot be run from the hypervisor's program");
  pauseHypervisorProgram();
  try {
    runJobIn(hv, std::move(job));
  } catch (...) {
    resumeHypervisorProgram();
    throw;
  }
  resumeHypervisorProgram();
}

// How long the first turn of a hypervisor program may hold the guest paused (later turns
// say it themselves: runHypervisorFor).
constexpr std::chrono::microseconds kFirstTurnMaxGuestHold = std::chrono::milliseconds(200);

// How long the hypervisor's program may take to reach a pause for a job: its processes
// wait for their sockets nearly always, and one that computes reaches its next wait soon.
constexpr std::chrono::microseconds kHypervisorPauseDeadline = std::chrono::seconds(2);

void Vm::pauseHypervisorProgram() {
  SpaceHost& hv = hypervisor();
  vm::Runtime& rt = hv.runtime();
  rt.requestPause(vm::Scheduler::nowMicros() + kHypervisorPauseDeadline.count());
  for (;;) {
    Yield y = hv.resume();
    if (y == Yield::Paused) return;
    if (y == Yield::JobDone) {
      hypervisorProgramEnded();
      return;  // no program any more: the job runs in the idle space
    }
    if (y == Yield::PauseAbandoned) {
      throw std::runtime_error("the hypervisor's program did not pause within " +
                               std::to_string(kHypervisorPauseDeadline.count() / 1000) +
                               " ms: " + hv.pauseReport().describe());
    }
    // Idle or Interrupted: the pause is reached as its processes block.
  }
}

void Vm::resumeHypervisorProgram() {
  if (!hypervisorProgram_) return;
  SpaceHost& hv = hypervisor();
  if (!hv.isPaused()) return;
  hv.endPause();
  // Out of paused(); the program stops again at its next heartbeat or wait.
  hv.setControlDeadline(vm::Scheduler::nowMicros());
  Yield y = hv.resume();
  hv.setControlDeadline(INT64_MAX);
  if (y == Yield::JobDone) hypervisorProgramEnded();
}

void Vm::startHypervisorProgram(std::function<void()> job) {
  if (hypervisorProgram_) throw std::logic_error("the hypervisor already runs a program");
  hypervisorProgram_ = true;
  hypervisorFailure_.clear();
  // Its first turn: it sets itself up and runs to its first heartbeat or wait; the host
  // loop's turns continue it.
  SpaceHost& hv = hypervisor();
  int64_t start = vm::Scheduler::nowMicros();
  hv.setControlDeadline(start);
  finishHypervisorTurn(hv.startJob(std::move(job)), start, kFirstTurnMaxGuestHold);
}

bool Vm::runHypervisorFor(std::chrono::microseconds budget, std::chrono::microseconds maxGuestHold) {
  if (!hypervisorProgram_) return false;
  SpaceHost& hv = hypervisor();
  if (hv.isPaused()) return false;  // a job's pause: resumeHypervisorProgram ends it
  int64_t start = vm::Scheduler::nowMicros();
  hv.setControlDeadline(start + budget.count());
  finishHypervisorTurn(hv.resume(), start, maxGuestHold);
  return hypervisorRunnable();
}

void Vm::finishHypervisorTurn(Yield y, int64_t start, std::chrono::microseconds maxGuestHold) {
  SpaceHost& hv = hypervisor();
  // A program that holds the guest paused runs on until it resumes it: the host loop
  // must not run the guest meanwhile, and the pause is the program's to keep short —
  // but not longer than maxGuestHold, whatever the program does.
  while (y == Yield::Interrupted && guest_->isPaused()) {
    if (vm::Scheduler::nowMicros() - start > maxGuestHold.count()) {
      resumeGuest();
      break;
    }
    y = hv.resume();
  }
  hv.setControlDeadline(INT64_MAX);
  if (y == Yield::JobDone) hypervisorProgramEnded();
}

void Vm::hypervisorProgramEnded() {
  hypervisorProgram_ = false;
  try {
    hypervisor().rethrowJobFailure();
    hypervisorFailure_.clear();
  } catch (const std::exception& e) {
    hypervisorFailure_ = e.what();
  } catch (...) {
    hypervisorFailure_ = "an unknown error";
  }
  // A pause the program held ends with it.
  if (guest_->isPaused()) resumeGuest();
}

int Vm::hypervisorEventFd() {
  return hypervisorProgram_ ? hypervisor().eventFd() : -1;
}

int64_t Vm::hypervisorNextTimer() {
  return hypervisorProgram_ ? hypervisor().nextTimerDeadline() : INT64_MAX;
}

space::Handle Vm::evaluateInGuest(std::string_view source) {
  return evaluateInGuest(source, {}, {});
}

space::Handle Vm::evaluateInGuest(std::string_view source, const std::vector<std::string>& parameters,
                                  std::span<const space::Handle> arguments) {
  space::Handle result;
  std::string text(source);
  runInGuest([&] { result = space::Handle(guest_->space(), guest_->runtime().evaluate(text, parameters, arguments)); });
  return result;
}

space::Handle Vm::evaluateInHypervisor(std::string_view source) {
  space::Handle result;
  std::string text(source);
  SpaceHost& hv = hypervisor();
  runInHypervisor([&] { result = space::Handle(hv.space(), hv.runtime().evaluate(text)); });
  return result;
}

void Vm::runJobIn(SpaceHost& host, std::function<void()> job) {
  Yield y = drive(host, host.startJob(std::move(job)));
  while (host.jobPending() || (y != Yield::JobDone && y != Yield::Paused)) y = drive(host, host.resume());
  host.rethrowJobFailure();
}

Yield Vm::drive(SpaceHost& host, Yield y) {
  while (y == Yield::Idle) {
    if (vm::Scheduler::nowMicros() >= host.controlDeadline()) return Yield::Interrupted;
    if (waitForEvents(host)) return Yield::Interrupted;
    y = host.resume();
  }
  return y;
}

void Vm::setHostEvents(std::function<std::vector<pollfd>()> events) {
  hostEvents_ = std::move(events);
  if (hostEvents_) {
    guest_->setHostWantsControl([this] { return hostEventsReady(); });
  } else {
    guest_->setHostWantsControl(nullptr);
  }
}

bool Vm::hostEventsReady() const {
  if (hypervisorRunnable()) return true;
  std::vector<pollfd> fds = hostEvents_();
  return !fds.empty() && ::poll(fds.data(), fds.size(), 0) > 0;
}

// Blocks until the space has an event (its epoll descriptor is readable or its next
// timer is due), the host's control deadline passes, or (while the host wants control
// back by a deadline) one of the host's descriptors is ready.
bool Vm::waitForEvents(SpaceHost& host) {
  int64_t deadline = std::min(host.nextTimerDeadline(), host.controlDeadline());
  int timeoutMs = -1;
  if (deadline != INT64_MAX) {
    int64_t wait = deadline - vm::Scheduler::nowMicros();
    timeoutMs = wait <= 0 ? 0 : int(std::min<int64_t>((wait + 999) / 1000, 1 << 30));
  }
  bool watchHost = hostEvents_ && host.controlDeadline() != INT64_MAX;
  // The hypervisor's program has work ready: the host wants control back at once.
  if (watchHost && &host == guest_.get() && hypervisorRunnable()) return true;
  std::vector<pollfd> fds = {{host.eventFd(), POLLIN, 0}};
  if (watchHost) {
    std::vector<pollfd> hostFds = hostEvents_();
    fds.insert(fds.end(), hostFds.begin(), hostFds.end());
  }
  if (::poll(fds.data(), fds.size(), timeoutMs) <= 0) return false;
  return std::any_of(fds.begin() + 1, fds.end(), [](const pollfd& p) { return p.revents != 0; });
}

}  // namespace hypervisor
