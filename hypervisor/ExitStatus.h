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
  NoProgram = 66,      // EX_NOINPUT: no class or file of that name
  InternalError = 70,  // EX_SOFTWARE: the VM itself failed
};

constexpr int code(ExitStatus s) {
  return static_cast<int>(s);
}

// Prints what the user needs to know about `outcome` on `err` (nothing when the program
// finished) and answers the process's exit status: the program's own for Finished.
// `classPath` is where classes were looked for (named when one is missing).
int reportOutcome(const vm::ProgramOutcome& outcome, const std::vector<std::string>& classPath, std::FILE* err);

}  // namespace hypervisor
