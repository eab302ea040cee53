// ExitStatus: the espell command's exit statuses (the BSD sysexits.h values where one
// fits, so scripts can tell a usage error from a broken program), and the one place that
// turns how a program ended (vm::ProgramOutcome) into a message and a status.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "vm/Runtime.h"

namespace hypervisor {

enum class ExitStatus : int {
  Success = 0,         // the program ended normally (or asked for 0, or got SIGTERM/SIGINT)
  ProgramFailed = 1,   // an unhandled error ended the main process, a deadlock, no #run
  Usage = 64,          // EX_USAGE: bad command-line flags
  CompileError = 65,   // EX_DATAERR: the program does not compile, or is misnamed
  BadImage = 65,       // EX_DATAERR: run --image: the image is corrupt, truncated, foreign or tampered
  NoProgram = 66,      // EX_NOINPUT: no class or file of that name
  InternalError = 70,  // EX_SOFTWARE: the VM itself failed
  // EX_CANTCREAT: run --control cannot create its control socket (a VM answers there
  // already, the path is taken by something else, ...)
  ControlSocketUnavailable = 73,
};

constexpr int code(ExitStatus s) {
  return static_cast<int>(s);
}

// The statuses of the clients of a VM's control socket (espell update, status, updates).
// update exits with its update's outcome; status and updates exit with Answered. Bad
// flags exit with ExitStatus::Usage as for every command.
enum class ControlExitStatus : int {
  Answered = 0,           // status, updates: the VM answered
  Committed = 0,          // update: the update is committed
  RolledBack = 1,         // update: it failed while being applied and was rolled back
  Refused = 2,            // update: refused before anything changed (it does not validate)
  TimedOut = 3,           // update: the guest did not reach its update points in time
  NoVm = 4,               // no VM at that socket: no such file, not a socket, nobody listens
  ControlError = 5,       // no usable answer: not JSON, closed early, {"ok":false,...}, cannot connect
  ScriptUnreadable = 66,  // EX_NOINPUT: update's script cannot be read, or is not UTF-8 text
};

constexpr int code(ControlExitStatus s) {
  return static_cast<int>(s);
}

// Prints what the user needs to know about `outcome` on `err` (nothing when the program
// finished) and answers the process's exit status: the program's own for Finished.
// `classPath` is where classes were looked for (named when one is missing).
int reportOutcome(const vm::ProgramOutcome& outcome, const std::vector<std::string>& classPath, std::FILE* err);

}  // namespace hypervisor
