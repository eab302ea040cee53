// UpdateRecord: what one update did — kept in memory, appended to the update log as a
// JSON line, sent to `espell update` and `espell updates`.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace chester {

enum class Outcome {
  Committed,   // applied and verified; the guest runs the new code
  RolledBack,  // a step, a verification or the deadline failed: the guest is as before
  Refused,     // the script is invalid; the guest was never paused
  TimedOut,    // the guest did not reach a pause in time; nothing was changed
};

const char* outcomeName(Outcome o);

// Durations in microseconds. `guestPause` is how long the guest's processes stood still:
// from the pause being reached to the guest resuming.
struct UpdateTimings {
  int64_t validate = 0;
  // Protecting the guest's pages ahead of the pause (and building the send-site index if
  // it must be) and preparing the update's code, the guest served between the steps.
  int64_t arm = 0;
  // Before the pause, the longest stretch the guest waited for the engine without running
  // (validating, arming, preparing: the guest is served between those steps).
  int64_t heldBefore = 0;
  int64_t pause = 0;  // waiting for the guest to reach its update points
  int64_t checkpoint = 0;
  int64_t apply = 0;
  int64_t verify = 0;
  int64_t rollback = 0;
  int64_t commit = 0;
  int64_t guestPause = 0;
  int64_t guestPauseCpu = 0;  // of guestPause, the time the VM's thread ran (the rest it waited for a core)
  int64_t total = 0;
};

struct UpdateRecord {
  int64_t id = 0;
  std::string script;  // its name
  std::string sha256;  // of its text
  std::string form;    // "json" or "smalltalk"
  std::string description;
  std::string receivedAt;  // ISO 8601, UTC
  Outcome outcome = Outcome::Refused;
  std::string failedStep;  // "steps[3] (addMethod)", "verify[0]", "apply:", "pause", ...
  std::string error;
  UpdateTimings timings;
  // What changed (for a rolled-back update: what had changed before it failed).
  int64_t classesChanged = 0;
  int64_t methodsChanged = 0;
  int64_t instancesMigrated = 0;
  int64_t pagesSaved = 0;              // copy-on-write pages saved by the checkpoint
  int64_t pagesSavedIntoPrepared = 0;  // of them, into copies written before the pause
  int64_t pauseFaults = 0;             // page faults the VM's thread took in the guest's pause
  std::string notArrived;              // TimedOut: the processes that did not reach an update point

  nlohmann::json toJson() const;
  static UpdateRecord fromJson(const nlohmann::json& j);
  // A few readable lines for a terminal.
  std::string describe() const;
};

}  // namespace chester
