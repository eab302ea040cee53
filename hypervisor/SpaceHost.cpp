// SpaceHost: see SpaceHost.h.
#include "hypervisor/SpaceHost.h"

#include <algorithm>
#include <utility>

#include "vm/IoPoller.h"
#include "vm/Scheduler.h"

namespace hypervisor {

SpaceHost::SpaceHost(const SpaceHostConfig& config)
    : space_(std::make_unique<space::Space>(config.space)),
      runtime_(std::make_unique<vm::Runtime>(*space_, config.runtime)) {
  runtime_->bootstrap();
  runtime_->setHost(this);
  suspendHeartbeatWhileIdle_ = config.suspendHeartbeatWhileIdle;
  fiber_ = std::make_unique<Fiber>([this] { fiberBody(); });
}

SpaceHost::SpaceHost(const SpaceHostConfig& config, const ResumeFromImage& image, image::LoadReport& report)
    : space_(std::make_unique<space::Space>(image::spaceConfigFor(image.manifest, config.space),
                                            space::Space::ForImage{})),
      mappings_(std::make_unique<image::ImageMappings>()) {
  intptr_t delta = mappings_->place(image.directory, image.manifest, *space_, image.options, report);
  vm::RuntimeImageState state = image.manifest.runtimeState;
  if (delta != 0) vm::RuntimeImage::relocate(state, space::Relocation::of(image.manifest.spaceState, delta));
  runtime_ = std::make_unique<vm::Runtime>(*space_, config.runtime);
  vm::RuntimeImage::adopt(*runtime_, state, image.arguments);
  runtime_->setHost(this);
  suspendHeartbeatWhileIdle_ = config.suspendHeartbeatWhileIdle;
  fiber_ = std::make_unique<Fiber>([this] { fiberBody(); });
}

// The fiber is brought to its end normally (its program asked to exit, a pause ended)
// rather than unwound by destroying it mid-way, so every stack switch stays announced.
SpaceHost::~SpaceHost() {
  if (!fiber_->finished()) {
    shuttingDown_ = true;
    job_ = nullptr;
    runtime_->endProgram(runtime_->outcome());
    for (int i = 0; i < 1000 && !fiber_->finished(); i++) fiber_->resume();
  }
  fiber_.reset();
  runtime_->setHost(nullptr);
}

void SpaceHost::fiberBody() {
  while (!shuttingDown_) {
    runJob();
    if (shuttingDown_) break;
    yield(Yield::JobDone);
  }
}

void SpaceHost::runJob() {
  std::function<void()> job = std::exchange(job_, nullptr);
  if (!job) return;
  try {
    job();
  } catch (const boost::context::detail::forced_unwind&) {
    throw;
  } catch (...) {
    jobFailure_ = std::current_exception();
  }
}

void SpaceHost::yield(Yield why) {
  lastYield_ = why;
  fiber_->suspend();
}

Yield SpaceHost::startJob(std::function<void()> job) {
  job_ = std::move(job);
  return resume();
}

Yield SpaceHost::resume() {
  fiber_->resume();
  return lastYield_;
}

void SpaceHost::rethrowJobFailure() {
  if (jobFailure_) std::rethrow_exception(std::exchange(jobFailure_, nullptr));
}

int SpaceHost::eventFd() {
  return runtime_->scheduler().io().fd();
}

int64_t SpaceHost::nextTimerDeadline() {
  return std::min(runtime_->scheduler().nextTimerDeadline(), runtime_->evaluationDeadline());
}

bool SpaceHost::waitForEvents(vm::Runtime& rt) {
  vm::Scheduler& s = rt.scheduler();
  for (;;) {
    // A pause requested while every process waits is reached at once: the scheduler
    // finds nothing ready and pauses (blocked processes are quiescent).
    if (s.pausePhase() == vm::PausePhase::Pausing) return true;
    if (rt.evaluationOverdue()) return true;  // the scheduler ends it
    if (s.pollEvents()) return true;
    if (rt.exitRequested() || shuttingDown_) return true;
    if (!s.hasPendingEvents()) return false;
    if (suspendHeartbeatWhileIdle_) s.suspendHeartbeat();
    yield(Yield::Idle);
    if (suspendHeartbeatWhileIdle_) s.resumeHeartbeat();
  }
}

void SpaceHost::paused(vm::Runtime&) {
  endPauseRequested_ = false;
  for (;;) {
    yield(Yield::Paused);
    if (job_) runJob();
    if (endPauseRequested_ || shuttingDown_) break;
  }
  endPauseRequested_ = false;
}

void SpaceHost::pauseAbandoned(vm::Runtime&, const vm::PauseReport& report) {
  pauseReport_ = report;
  if (!shuttingDown_) yield(Yield::PauseAbandoned);
}

void SpaceHost::interrupted(vm::Runtime&) {
  if (shuttingDown_ || controlDeadline_ == INT64_MAX) return;
  int64_t now = vm::Scheduler::nowMicros();
  if (now >= controlDeadline_) {
    yield(Yield::Interrupted);
  } else if (hostWantsControl_ && now >= nextHostCheck_) {
    nextHostCheck_ = now + kHostCheckIntervalMicros;
    if (hostWantsControl_()) yield(Yield::Interrupted);
  }
}

}  // namespace hypervisor
