// CommandLine: parsing and validating the arguments of the espell executable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hypervisor {

struct CommandLine {
  // Update, Status and Updates are clients of a running VM's control socket.
  enum class Command { Run, Disassemble, Update, Status, Updates, Snapshot, Help, Version };
  Command command = Command::Help;
  std::vector<std::string> classPath;
  std::string program;  // FILE.som or class name
  std::vector<std::string> arguments;
  bool virtualized = false;
  size_t heapMiB = 4096;  // old-space limit of the program's space
  size_t edenMiB = 16;
  size_t maxStackMiB = 32;   // per process; deeper recursion signals StackOverflow
  unsigned gcThreads = 0;    // threads of a full collection; 0: as SpaceConfig decides
  bool gcStats = false;      // print collection statistics to stderr at exit
  bool measureLive = false;  // full collection after each scavenge (peak live size)
  // run: where the VM serves its control socket (only with --virtualized; empty: none).
  // update / status / updates: the socket of the VM to talk to (required).
  std::string controlSocket;
  bool json = false;  // update / status / updates: print the answer as JSON
  // run: how long an update may wait for the guest to pause (default 2000 ms);
  // update: the same for this one update (0: the VM's own).
  int64_t deadlineMs = 0;
  std::string updateLog;  // run: the file every update record is appended to, a JSON line each
  // run: the port (on 127.0.0.1; 0: any free one) of the console the hypervisor serves
  // (only with --virtualized; -1: none).
  int consolePort = -1;
  // run: a directory of images the console's snapshots page lists (only with --console).
  std::string consoleSnapshotDir;
  std::string script;  // update: the update script's file
  // run: resume the space saved in this image directory instead of starting a program
  // (the arguments then go to System>>resumeArguments).
  std::string image;
  // run --image: each segment's SHA-256 is checked before the program first uses it, as the
  // program runs; --trust-image checks none (mapping reads nothing); --verify-image-first
  // checks all before the program starts.
  bool trustImage = false;
  bool verifyImageFirst = false;
  // snapshot: the image directory to write, the space and the capture mode.
  std::string snapshotDirectory;
  std::string snapshotSpace = "guest";
  std::string snapshotMode = "cow";
};

// Parses argv; on error answers nothing and fills `error` with a message naming the flag.
std::optional<CommandLine> parseCommandLine(int argc, char** argv, std::string& error);
const char* usage();

}  // namespace hypervisor
