// Updater: the life of one update (docs/ARCHITECTURE.md, "chester/") —
//
//   received -> validated -> pausing -> paused -> checkpoint -> applying -> verifying
//            -> committed | rolled back -> resumed
//
// Updates are serialised: apply() runs one to its end before it returns, and its caller
// (the control socket, a test, hypervisor code) waits. Rollback is exact because the
// checkpoint is: vm::RuntimeCheckpoint saves every guest heap page before its first write
// during the update, plus the runtime's C++ state, and puts all of it back on failure — so
// whatever a step, a script or a guest evaluation did, including what no mirror operation
// journals, is undone.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chester/GuestHost.h"
#include "chester/UpdateRecord.h"
#include "chester/UpdateScript.h"

namespace chester {

struct UpdaterOptions {
  // How long the guest may take to reach its update points (--deadline-ms).
  std::chrono::microseconds pauseDeadline = std::chrono::milliseconds(2000);
  // How long applying and verifying may take while the guest is paused: a script that
  // loops is stopped there and the update rolled back. The guest's users wait meanwhile,
  // so it is as short as the pause deadline by default.
  std::chrono::microseconds applyDeadline = std::chrono::milliseconds(2000);
  // Runs the heap verifier over the guest after applying (a failure rolls back). Costs a
  // walk of the whole heap: on in tests, off by default.
  bool verifyHeap = false;
  // Appends every record as a JSON line (--update-log); empty: none.
  std::string logPath;
};

class Updater {
 public:
  Updater(GuestHost& host, UpdaterOptions options);
  Updater(const Updater&) = delete;
  Updater& operator=(const Updater&) = delete;

  // Applies one update and answers its record (also kept, logged and appended). A guest
  // the caller has paused is left paused; otherwise the update pauses and resumes it.
  // `pauseDeadline` replaces the configured one for this update.
  UpdateRecord apply(const ScriptText& script, std::optional<std::chrono::microseconds> pauseDeadline = std::nullopt);
  const std::vector<UpdateRecord>& records() const { return records_; }
  size_t committed() const { return committed_; }

 private:
  // What an update runs once the guest is paused; throws to roll back.
  class Application;
  class JsonApplication;
  class SmalltalkApplication;
  // A method the update changes: of class (or metaclass) named `className`.
  struct MethodChange {
    std::string className;
    bool classSide;
    std::string selector;
  };
  void writeAheadOfMethodChanges(const Application& application);
  void finish(UpdateRecord& record);

  GuestHost& host_;
  UpdaterOptions options_;
  std::vector<UpdateRecord> records_;
  size_t committed_ = 0;
  int64_t nextId_ = 1;
  std::ofstream log_;
};

// Hex SHA-256 of `text`.
std::string sha256Hex(const std::string& text);

}  // namespace chester
