// CommandLine: parsing and validating the arguments of the espell executable.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace hypervisor {

struct CommandLine {
  enum class Command { Run, Disassemble, Help, Version };
  Command command = Command::Help;
  std::vector<std::string> classPath;
  std::string program;  // FILE.som or class name
  std::vector<std::string> arguments;
  bool virtualized = false;
  size_t heapMiB = 4096;  // old-space limit of the program's space
  size_t edenMiB = 16;
  size_t maxStackMiB = 32;   // per process; deeper recursion signals StackOverflow
  bool gcStats = false;      // print collection statistics to stderr at exit
  bool measureLive = false;  // full collection after each scavenge (peak live size)
};

// Parses argv; on error answers nothing and fills `error` with a message naming the flag.
std::optional<CommandLine> parseCommandLine(int argc, char** argv, std::string& error);
const char* usage();

}  // namespace hypervisor
