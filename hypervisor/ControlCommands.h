// ControlCommands: the CLI's clients of a running VM's control socket — espell update,
// status and updates: what each sends, what it prints, and its exit status
// (ControlExitStatus in ExitStatus.h).
#pragma once

#include <cstdio>

#include "hypervisor/CommandLine.h"

namespace hypervisor {

// Runs cl.command (Update, Status or Updates) against the VM at cl.controlSocket; prints
// the answer on `out` and what went wrong on `err`; answers the exit status.
int runControlCommand(const CommandLine& cl, std::FILE* out, std::FILE* err);

}  // namespace hypervisor
