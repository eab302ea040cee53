// Vm: the process-wide host of two isolated spaces — the guest, which runs the user's
// program, and the hypervisor, which inspects and updates the guest through mirrors
// (mop/). Each space runs on its own fiber (SpaceHost); this class is the host loop that
// resumes them, waits for their events when both are idle, and pauses and resumes the
// guest (docs/ARCHITECTURE.md, "hypervisor/"). Everything runs on one OS thread, but
// for building the hypervisor space, which a thread of its own does while the guest starts.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hypervisor/SpaceHost.h"
#include "mop/MirrorBridge.h"

namespace hypervisor {

// Where each space's reservation is asked for (see VmConfig::VmConfig).
constexpr uintptr_t kGuestSpaceBase = uintptr_t(0x2000) << 32;       // 32 TiB
constexpr uintptr_t kHypervisorSpaceBase = uintptr_t(0x2800) << 32;  // 40 TiB

struct VmConfig {
  SpaceHostConfig guest;
  SpaceHostConfig hypervisor;
  VmConfig();
};

// How a pause request ended.
enum class PauseOutcome { Paused, Abandoned, GuestFinished };

class Vm {
 public:
  explicit Vm(VmConfig config = VmConfig());
  // A Vm whose guest is resumed from an image (its program continues with
  // startGuestFromImage instead of startGuest). Throws image::ImageError.
  Vm(VmConfig config, const ResumeFromImage& guestImage, image::LoadReport& report);
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;
  ~Vm();

  SpaceHost& guest() { return *guest_; }
  // Waits until the hypervisor space is built, the first time (see startBuildingHypervisor).
  SpaceHost& hypervisor() { return awaitHypervisor(); }
  mop::MirrorBridge& mirrors() {
    awaitHypervisor();
    return *bridge_;
  }

  // The guest's program, run by the SOM launcher protocol (Runtime::runMain).
  // runGuest runs it to the end and answers how it ended.
  vm::ProgramOutcome runGuest(const std::string& program, const std::vector<std::string>& args);
  void startGuest(const std::string& program, const std::vector<std::string>& args);
  // The program of a guest resumed from an image continues (Runtime::resumeMain).
  void startGuestFromImage();
  // Runs the guest for about `budget` (heartbeat granularity) or until it ends; answers
  // whether it ended. It returns early when a host descriptor (setHostEvents) is ready.
  bool runGuestFor(std::chrono::microseconds budget);
  // The host's own descriptors (a control socket's): while runGuestFor runs, the host loop
  // also wakes up when one of them is ready — at once while the guest waits for events,
  // within SpaceHost::kHostCheckIntervalMicros while it computes — and runGuestFor
  // returns. Called each time the host loop waits, so the list may change.
  void setHostEvents(std::function<std::vector<pollfd>()> events);
  const std::function<std::vector<pollfd>()>& hostEvents() const { return hostEvents_; }
  // Runs the guest to the end of its program; answers how it ended.
  vm::ProgramOutcome finishGuest();
  bool guestFinished() const { return guestFinished_; }
  bool guestStarted() const { return guestStarted_; }
  const vm::ProgramOutcome& guestOutcome() const { return guestOutcome_; }

  // Pausing: every guest process stops at its next update point or is blocked. Returns
  // when paused, or when `deadline` passed first (the guest then keeps running untouched;
  // lastPauseReport() names the processes that did not arrive).
  PauseOutcome pauseGuest(std::chrono::microseconds deadline);
  void resumeGuest();
  // Runs the guest (runGuestFor, in short slices) while `waiting()` holds, `limit` at
  // most; nothing when it is paused or not running: an update lets it serve while its
  // checkpoint is armed in the background.
  void runGuestWhile(const std::function<bool()>& waiting, std::chrono::microseconds limit);
  // Lets the running guest do the work it has now — runnable processes, events already
  // arrived, timers due — for `budget` at most, without waiting for more: it returns at
  // once when the guest has nothing to do. Nothing when paused or not running. An update
  // calls it between the steps it takes before the pause, so that the service goes on.
  void serveGuest(std::chrono::microseconds budget);
  bool guestPaused() const { return guest_->isPaused(); }
  const vm::PauseReport& lastPauseReport() const { return guest_->pauseReport(); }
  int64_t lastPauseMicros() const { return lastPauseMicros_; }

  // Runs `job` inside a space's fiber and returns when it is done (the guest must be
  // paused; its other processes stay parked). Rethrows what the job threw.
  void runInGuest(std::function<void()> job);
  void runInHypervisor(std::function<void()> job);
  // Evaluates Smalltalk statements in the (paused) guest, in a fresh process that runs
  // alone, or in the hypervisor; answers the value of a final "^ expression". Throws
  // std::runtime_error (compile errors: vm::CompileError) when it cannot.
  space::Handle evaluateInGuest(std::string_view source);
  // With the statements' `parameters` bound to `arguments` (guest objects).
  space::Handle evaluateInGuest(std::string_view source, const std::vector<std::string>& parameters,
                                std::span<const space::Handle> arguments);
  space::Handle evaluateInHypervisor(std::string_view source);

  // ---- the hypervisor's own program (the console: hypervisor/Console.h) ------------------
  // Starts `job` on the hypervisor fiber as a program that runs beside the guest, not to
  // an end: the host loop gives it turns (runHypervisorFor) between the guest's time
  // slices. Its processes wait for their events like the guest's: the host loop watches
  // the hypervisor's epoll descriptor and next timer (hypervisorEvents) with the guest's.
  // Jobs asked for meanwhile (runInHypervisor: an update's Smalltalk script) run while
  // the program is paused at its update points or blocked, as the guest's evaluations do.
  void startHypervisorProgram(std::function<void()> job);
  bool hypervisorProgramRunning() const { return hypervisorProgram_; }
  // One turn of the hypervisor's program: it runs until it waits for events or `budget`
  // has passed — but never gives control back while it holds the guest paused (it reads
  // the guest through mirrors in short pauses it ends itself). Answers whether it still
  // has work ready (it was stopped by the budget). When the program has ended, the
  // reason is in hypervisorProgramFailure() and a pause it held is ended. A program that
  // holds the guest paused longer than `maxGuestHold` has the pause ended for it.
  bool runHypervisorFor(std::chrono::microseconds budget, std::chrono::microseconds maxGuestHold);
  // Whether the program was stopped by its budget with work still ready: the host loop
  // then cuts the guest's slices short instead of waiting for events.
  bool hypervisorRunnable() const { return hypervisorProgram_ && hypervisor_->lastYield() == Yield::Interrupted; }
  // The hypervisor's descriptor to watch (its epoll set, readable when a process of its
  // program has an event) and the deadline of its next timer; -1 and INT64_MAX without a
  // program.
  int hypervisorEventFd();
  int64_t hypervisorNextTimer();
  // Why the program ended ("" while it runs or ended without an error).
  const std::string& hypervisorProgramFailure() const { return hypervisorFailure_; }

 private:
  // Resumes `host` while it is Idle, waiting for its events in between; answers its first
  // other yield, or Interrupted when the host's control deadline passes while it is idle.
  Yield drive(SpaceHost& host, Yield first);
  // Answers whether a host descriptor is ready (they are watched only while `host` has a
  // control deadline, i.e. in runGuestFor).
  bool waitForEvents(SpaceHost& host);
  bool hostEventsReady() const;
  void runJobIn(SpaceHost& host, std::function<void()> job);
  // Pauses the hypervisor's program at its update points (its processes are normally all
  // blocked, so at once) so that a job can run in the hypervisor space; and resumes it.
  void pauseHypervisorProgram();
  void resumeHypervisorProgram();
  void hypervisorProgramEnded();
  // The end of a turn of the hypervisor's program that yielded `y`: see runHypervisorFor.
  void finishHypervisorTurn(Yield y, int64_t start, std::chrono::microseconds maxGuestHold);

  // Built by the thread of hypervisorBuilt_ (with bridge_); read only after awaitHypervisor.
  std::unique_ptr<SpaceHost> hypervisor_;
  std::unique_ptr<SpaceHost> guest_;
  // The mirror classes of the hypervisor space (global Guest) act on the guest through it.
  std::unique_ptr<mop::MirrorBridge> bridge_;
  void startGuestJob(std::function<void()> job);
  void startBuildingHypervisor(const SpaceHostConfig& config);
  SpaceHost& awaitHypervisor();
  void installBridge();
  bool guestStarted_ = false;
  bool guestFinished_ = false;
  vm::ProgramOutcome guestOutcome_;
  int64_t lastPauseMicros_ = 0;
  std::function<std::vector<pollfd>()> hostEvents_;  // empty: the host watches nothing
  bool hypervisorProgram_ = false;                   // startHypervisorProgram ran and the program has not ended
  std::string hypervisorFailure_;
  // Valid until awaitHypervisor has joined the thread building the hypervisor space.
  std::future<void> hypervisorBuilt_;
};

}  // namespace hypervisor
