// Console: the operator's console in the browser (docs/ARCHITECTURE.md, "The console") —
// a Smalltalk program of the hypervisor space (hypervisor/console/*.som, with its own
// copies of lib/Json and lib/Http) serving HTTP on 127.0.0.1, reading the guest through
// mirrors only. This class is its host side: it loads and starts the program, gives it
// turns between the guest's time slices, and answers the program's host commands
// (GuestSpace>>hostCommand:, a JSON request answered by a JSON text):
//
//   {"command":"listening","port":N}        the program listens (the URL is printed)
//   {"command":"pause","deadlineMs":N}      pause the guest at its update points
//   {"command":"resume"}                    resume it; answers how long it was held
//   {"command":"gc"}                        the guest's heap and collector figures (no pause)
//   {"command":"status"|"updates"}          as on the control socket (HostCommands)
//   {"command":"update"|"snapshot",...}     as on the control socket, but deferred: run by
//                                           the host loop (serve()), answered {"pending":ID}
//   {"command":"result","id":ID}            a deferred command's answer, or {"pending":ID}
//   {"command":"images","directories":[D]}  the images on disk in --snapshot-dir (every
//                                           subdirectory) and in each D (those with a
//                                           manifest.json): ImageList
//
// Updates and snapshots are deferred because they pause the hypervisor's program itself
// (an update's Smalltalk script runs in the hypervisor space), which its own code cannot do.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "hypervisor/HostCommands.h"
#include "hypervisor/Vm.h"

namespace hypervisor {

class Console {
 public:
  // How long the program may run in one turn while the guest has work: the guest's
  // service waits at most this long for the console (docs/ARCHITECTURE.md).
  static constexpr std::chrono::microseconds kTurn{1000};
  // The longest time the program may keep the guest paused in one go; beyond it the host
  // resumes the guest (the program's next mirror reads then fail).
  static constexpr std::chrono::milliseconds kMaxHold{200};

  // Starts the console on 127.0.0.1:port (0: any free port) with a new random token;
  // snapshotDir (may be empty) is a directory of images its snapshots page lists.
  Console(Vm& vm, HostCommands& commands, int port, std::string snapshotDir = "");
  // The program stays (the Vm ends it with the hypervisor space); its host commands fail.
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  const std::string& token() const { return token_; }
  // The bound port once the program listens (0 before).
  int port() const { return port_; }
  bool running() const { return vm_.hypervisorProgramRunning(); }

  // One turn of the console: its program, then the deferred commands it asked for.
  void serve();
  // What the host loop waits for on the console's behalf (see Vm::setHostEvents) and by
  // when it must call serve() at the latest (steady clock, µs; INT64_MAX: no deadline).
  std::vector<pollfd> pollDescriptors();
  int64_t nextDeadlineMicros();

 private:
  std::string command(const std::string& requestJson);
  nlohmann::json pauseGuest(const nlohmann::json& request);
  nlohmann::json resumeGuest();
  nlohmann::json gcFigures(const nlohmann::json& request);
  nlohmann::json images(const nlohmann::json& request);
  void runDeferred();
  void reportEnd();

  Vm& vm_;
  HostCommands& commands_;
  std::string token_;
  std::string snapshotDir_;
  int port_ = 0;
  bool endReported_ = false;
  int64_t pausedAt_ = 0;  // when the program's current pause of the guest began (0: none)
  int64_t nextId_ = 1;
  std::deque<std::pair<int64_t, nlohmann::json>> deferred_;
  std::map<int64_t, std::string> results_;  // answers not yet collected
};

// A random token of 32 hexadecimal digits (128 bits from the system's random source).
std::string newConsoleToken();

}  // namespace hypervisor
