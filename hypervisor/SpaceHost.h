// SpaceHost: one space, its runtime, and the fiber its interpreter runs on. The fiber runs
// jobs (the guest's main program, an evaluation asked for by the hypervisor) and yields
// back to whoever resumed it — the host loop of hypervisor::Vm, or the other space's fiber
// — whenever the runtime cannot go on by itself: waiting for events, paused for an update,
// a pause abandoned, the host wanting control at a heartbeat, or a job done.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "hypervisor/Fiber.h"
#include "image/ImageLoader.h"
#include "space/Handle.h"
#include "space/Space.h"
#include "vm/ExecutionHost.h"
#include "vm/Runtime.h"

namespace hypervisor {

class Vm;

// Why a space's fiber gave control back.
enum class Yield {
  Idle,            // nothing runnable: waiting for its events (see eventFd, nextTimerDeadline)
  Interrupted,     // the host asked for control (Vm::runGuestFor's budget ran out)
  Paused,          // paused at update points; evaluate() and mirrors may be used
  PauseAbandoned,  // the pause deadline passed first (pauseReport); resuming continues
  JobDone,         // the fiber finished its job and waits for the next
};

struct SpaceHostConfig {
  space::SpaceConfig space;
  vm::RuntimeOptions runtime;
  // Suspend the runtime's heartbeat while the space waits for its events (the hypervisor,
  // whose program is mostly idle: it then costs the process no wake-ups). The guest keeps
  // its heartbeat as it runs alone.
  bool suspendHeartbeatWhileIdle = false;
};

// A space to resume from an image instead of bootstrapping a fresh one.
struct ResumeFromImage {
  std::string directory;
  image::Manifest manifest;            // read and checked by image::readImage
  std::vector<std::string> arguments;  // System>>resumeArguments
  image::LoadOptions options;          // as given to image::readImage
};

class SpaceHost final : public vm::ExecutionHost {
 public:
  explicit SpaceHost(const SpaceHostConfig& config);
  // The space of an image: its segments mapped (or relocated) and its runtime adopted; its
  // program continues with Runtime::resumeMain. `report` receives the load timings.
  SpaceHost(const SpaceHostConfig& config, const ResumeFromImage& image, image::LoadReport& report);
  ~SpaceHost() override;
  SpaceHost(const SpaceHost&) = delete;
  SpaceHost& operator=(const SpaceHost&) = delete;

  space::Space& space() { return *space_; }
  vm::Runtime& runtime() { return *runtime_; }
  const std::string& name() const { return runtime_->name(); }

  // ---- host side: called outside this space's fiber -------------------------------------
  // Runs `job` on the fiber (the space must be between jobs or paused); returns at the
  // first yield. Exceptions escaping the job are rethrown by the drive that sees JobDone.
  Yield startJob(std::function<void()> job);
  // Continues the fiber until its next yield.
  Yield resume();
  Yield lastYield() const { return lastYield_; }
  bool isPaused() const { return lastYield_ == Yield::Paused; }
  bool jobPending() const { return job_ != nullptr; }
  // Whether the caller runs on this space's fiber (its program's own code).
  bool onFiber() const { return fiber_->running(); }
  // While paused: the next resume() makes paused() return, ending the pause.
  void endPause() { endPauseRequested_ = true; }
  const vm::PauseReport& pauseReport() const { return pauseReport_; }
  // The heartbeat yields Interrupted once the monotonic clock passes this (INT64_MAX: never).
  void setControlDeadline(int64_t micros) { controlDeadline_ = micros; }
  int64_t controlDeadline() const { return controlDeadline_; }
  // While a control deadline is set, the heartbeat also yields Interrupted as soon as
  // `hostWantsControl` answers true (the host's own descriptors are ready). It is asked at
  // most every kHostCheckIntervalMicros, so a computing space pays one system call per
  // interval, not per heartbeat.
  static constexpr int64_t kHostCheckIntervalMicros = 5'000;
  void setHostWantsControl(std::function<bool()> hostWantsControl) { hostWantsControl_ = std::move(hostWantsControl); }
  // What to wait for while Idle: its events, until its next timer or the deadline of the
  // evaluation it runs, whichever comes first.
  int eventFd();
  int64_t nextTimerDeadline();
  // Rethrows (once) what the last job threw.
  void rethrowJobFailure();

  // ---- ExecutionHost: called by the runtime, inside the fiber ---------------------------
  bool waitForEvents(vm::Runtime& rt) override;
  void paused(vm::Runtime& rt) override;
  void pauseAbandoned(vm::Runtime& rt, const vm::PauseReport& report) override;
  void interrupted(vm::Runtime& rt) override;

 private:
  void fiberBody();
  void runJob();
  void yield(Yield why);

  // Destroyed in reverse order: the fiber (whose stack may still hold frames that refer
  // to the runtime and the space) goes first.
  std::unique_ptr<space::Space> space_;
  std::unique_ptr<image::ImageMappings> mappings_;  // an image's segment files (before the space goes)
  std::unique_ptr<vm::Runtime> runtime_;
  std::unique_ptr<Fiber> fiber_;
  std::function<void()> job_;
  std::exception_ptr jobFailure_;
  Yield lastYield_ = Yield::JobDone;
  bool endPauseRequested_ = false;
  bool shuttingDown_ = false;  // the destructor is bringing the fiber to its end
  vm::PauseReport pauseReport_;
  int64_t controlDeadline_ = INT64_MAX;
  std::function<bool()> hostWantsControl_;
  int64_t nextHostCheck_ = 0;
  bool suspendHeartbeatWhileIdle_ = false;
};

}  // namespace hypervisor
