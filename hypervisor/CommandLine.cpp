// CommandLine: a small hand-written parser; SOM launcher compatible ("-cp a:b FILE args").
#include "hypervisor/CommandLine.h"

#include <cstdlib>
#include <sstream>

namespace hypervisor {

namespace {
std::vector<std::string> splitPath(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ':')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

// More threads than a full collection could use on any machine this VM runs on.
constexpr size_t kMaxGcThreads = 64;

bool parseSize(const std::string& text, size_t& out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v == 0 || v > (1ull << 20)) return false;
  out = size_t(v);
  return true;
}

// A pause deadline: 1 ms to 10 minutes.
bool parseDeadline(const char* text, int64_t& out) {
  size_t v = 0;
  if (!parseSize(text, v) || v > 600000) return false;
  out = int64_t(v);
  return true;
}
}  // namespace

const char* usage() {
  return "usage: espell run [--virtualized [--control SOCKET [--deadline-ms N] [--update-log FILE]]\n"
         "                  [--console PORT [--snapshot-dir DIR]]]\n"
         "                  [-cp DIR:DIR...] [--heap-mib N] [--eden-mib N]\n"
         "                  [--max-stack-mib N] [--gc-threads N] [--gc-stats] [--gc-measure-live]\n"
         "                  FILE.som|CLASS [ARGS...]\n"
         "       espell run [--virtualized [--control SOCKET ...]] [--gc-threads N] [--gc-stats]\n"
         "                  [--trust-image|--verify-image-first] --image DIR [ARGS...]\n"
         "       espell disasm [-cp DIR:DIR...] FILE.som|CLASS\n"
         "       espell update --control SOCKET [--json] [--deadline-ms N] SCRIPT\n"
         "       espell status --control SOCKET [--json]\n"
         "       espell updates --control SOCKET [--json]\n"
         "       espell snapshot --control SOCKET [--json] [--space guest|hypervisor]\n"
         "                  [--mode cow|copy|fork] [--deadline-ms N] DIR\n"
         "       espell --help | --version\n";
}

namespace {
// update / status / updates: --control SOCKET and --json in any order, then the script
// (update) or nothing.
std::optional<CommandLine> parseControlClient(CommandLine cl, int argc, char** argv, std::string& error) {
  const std::string command = argv[1];
  std::vector<std::string> operands;
  for (int i = 2; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--control") {
      if (i + 1 >= argc || std::string(argv[i + 1]).empty()) {
        error = "--control needs the path of a VM's control socket";
        return std::nullopt;
      }
      cl.controlSocket = argv[++i];
    } else if (a == "--json") {
      cl.json = true;
    } else if ((a == "--space" || a == "--mode") && command == "snapshot") {
      if (i + 1 >= argc) {
        error = a + (a == "--space" ? " needs guest or hypervisor" : " needs cow, copy or fork");
        return std::nullopt;
      }
      std::string v = argv[++i];
      if (a == "--space" && v != "guest" && v != "hypervisor") {
        error = "--space needs guest or hypervisor (got '" + v + "')";
        return std::nullopt;
      }
      if (a == "--mode" && v != "cow" && v != "copy" && v != "fork") {
        error = "--mode needs cow, copy or fork (got '" + v + "')";
        return std::nullopt;
      }
      (a == "--space" ? cl.snapshotSpace : cl.snapshotMode) = v;
    } else if (a == "--deadline-ms" && (command == "update" || command == "snapshot")) {
      if (i + 1 >= argc || !parseDeadline(argv[i + 1], cl.deadlineMs)) {
        error = "--deadline-ms needs a number of milliseconds from 1 to 600000";
        return std::nullopt;
      }
      i++;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      error = "unknown option '" + a + "' for " + command;
      return std::nullopt;
    } else {
      operands.push_back(a);
    }
  }
  if (cl.controlSocket.empty()) {
    error = command + " needs --control SOCKET (the control socket of a VM started with run --control)";
    return std::nullopt;
  }
  bool takesOperand = cl.command == CommandLine::Command::Update || cl.command == CommandLine::Command::Snapshot;
  size_t expected = takesOperand ? 1 : 0;
  if (operands.size() != expected) {
    error = cl.command == CommandLine::Command::Update ? "update needs exactly one SCRIPT file"
            : cl.command == CommandLine::Command::Snapshot
                ? "snapshot needs exactly one DIR (the image to write)"
                : command + " takes no operand (got '" + operands.front() + "')";
    return std::nullopt;
  }
  if (cl.command == CommandLine::Command::Update) cl.script = operands.front();
  if (cl.command == CommandLine::Command::Snapshot) cl.snapshotDirectory = operands.front();
  return cl;
}
}  // namespace

std::optional<CommandLine> parseCommandLine(int argc, char** argv, std::string& error) {
  CommandLine cl;
  if (argc < 2) {
    error = "no command given";
    return std::nullopt;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    cl.command = CommandLine::Command::Help;
    return cl;
  }
  if (cmd == "--version") {
    cl.command = CommandLine::Command::Version;
    return cl;
  }
  if (cmd == "run") {
    cl.command = CommandLine::Command::Run;
  } else if (cmd == "disasm") {
    cl.command = CommandLine::Command::Disassemble;
  } else if (cmd == "update" || cmd == "status" || cmd == "updates" || cmd == "snapshot") {
    cl.command = cmd == "update"     ? CommandLine::Command::Update
                 : cmd == "status"   ? CommandLine::Command::Status
                 : cmd == "snapshot" ? CommandLine::Command::Snapshot
                                     : CommandLine::Command::Updates;
    return parseControlClient(cl, argc, argv, error);
  } else {
    error =
        "unknown command '" + cmd + "' (expected run, disasm, update, status, updates, snapshot, --help or --version)";
    return std::nullopt;
  }
  int i = 2;
  for (; i < argc; i++) {
    std::string a = argv[i];
    if (a == "-cp" || a == "--classpath") {
      if (i + 1 >= argc) {
        error = a + " needs a list of directories";
        return std::nullopt;
      }
      auto dirs = splitPath(argv[++i]);
      cl.classPath.insert(cl.classPath.end(), dirs.begin(), dirs.end());
    } else if (a == "--gc-stats") {
      cl.gcStats = true;
    } else if (a == "--gc-measure-live") {
      cl.gcStats = true;
      cl.measureLive = true;
    } else if (a == "--virtualized") {
      cl.virtualized = true;
    } else if (a == "--control" && cl.command == CommandLine::Command::Run) {
      if (i + 1 >= argc || std::string(argv[i + 1]).empty()) {
        error = "--control needs the path of the control socket to create";
        return std::nullopt;
      }
      cl.controlSocket = argv[++i];
    } else if (a == "--console" && cl.command == CommandLine::Command::Run) {
      char* end = nullptr;
      long port = i + 1 < argc ? std::strtol(argv[i + 1], &end, 10) : -1;
      if (i + 1 >= argc || *argv[i + 1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
        error = "--console needs a port from 0 to 65535 (0: any free port)";
        return std::nullopt;
      }
      cl.consolePort = int(port);
      i++;
    } else if (a == "--snapshot-dir" && cl.command == CommandLine::Command::Run) {
      if (i + 1 >= argc || std::string(argv[i + 1]).empty()) {
        error = "--snapshot-dir needs the directory of images the console lists";
        return std::nullopt;
      }
      cl.consoleSnapshotDir = argv[++i];
    } else if (a == "--deadline-ms" && cl.command == CommandLine::Command::Run) {
      if (i + 1 >= argc || !parseDeadline(argv[i + 1], cl.deadlineMs)) {
        error = "--deadline-ms needs a number of milliseconds from 1 to 600000";
        return std::nullopt;
      }
      i++;
    } else if (a == "--update-log" && cl.command == CommandLine::Command::Run) {
      if (i + 1 >= argc || std::string(argv[i + 1]).empty()) {
        error = "--update-log needs the path of the file to append update records to";
        return std::nullopt;
      }
      cl.updateLog = argv[++i];
    } else if (a == "--image" && cl.command == CommandLine::Command::Run) {
      if (i + 1 >= argc || std::string(argv[i + 1]).empty()) {
        error = "--image needs the image directory to resume";
        return std::nullopt;
      }
      cl.image = argv[++i];
      i++;
      break;  // what follows the image is the resumed program's (System>>resumeArguments)
    } else if (a == "--trust-image" && cl.command == CommandLine::Command::Run) {
      cl.trustImage = true;
    } else if (a == "--verify-image-first" && cl.command == CommandLine::Command::Run) {
      cl.verifyImageFirst = true;
    } else if (a == "--heap-mib" || a == "--eden-mib" || a == "--max-stack-mib") {
      size_t& target = a == "--heap-mib" ? cl.heapMiB : a == "--eden-mib" ? cl.edenMiB : cl.maxStackMiB;
      if (i + 1 >= argc || !parseSize(argv[i + 1], target)) {
        error = a + " needs a positive number of MiB";
        return std::nullopt;
      }
      i++;
    } else if (a == "--gc-threads" && cl.command == CommandLine::Command::Run) {
      size_t threads = 0;
      if (i + 1 >= argc || !parseSize(argv[i + 1], threads) || threads > kMaxGcThreads) {
        error = "--gc-threads needs a number of threads from 1 to " + std::to_string(kMaxGcThreads);
        return std::nullopt;
      }
      cl.gcThreads = unsigned(threads);
      i++;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      error = "unknown option '" + a + "'";
      return std::nullopt;
    } else {
      break;
    }
  }
  if (!cl.controlSocket.empty() && !cl.virtualized) {
    error = "--control needs --virtualized: the control socket is served by the hypervisor";
    return std::nullopt;
  }
  if (cl.consolePort >= 0 && !cl.virtualized) {
    error = "--console needs --virtualized: the console is served by the hypervisor";
    return std::nullopt;
  }
  if (!cl.consoleSnapshotDir.empty() && cl.consolePort < 0) {
    error = "--snapshot-dir needs --console: the console's snapshots page lists it";
    return std::nullopt;
  }
  if ((cl.deadlineMs != 0 || !cl.updateLog.empty()) && cl.controlSocket.empty() && cl.consolePort < 0) {
    error = std::string(cl.deadlineMs != 0 ? "--deadline-ms" : "--update-log") +
            " needs --control or --console: updates arrive through the control socket or the console";
    return std::nullopt;
  }
  if ((cl.trustImage || cl.verifyImageFirst) && cl.image.empty()) {
    error = std::string(cl.trustImage ? "--trust-image" : "--verify-image-first") + " needs --image DIR";
    return std::nullopt;
  }
  if (cl.trustImage && cl.verifyImageFirst) {
    error = "--trust-image and --verify-image-first exclude each other";
    return std::nullopt;
  }
  if (!cl.image.empty()) {
    // The arguments go to the resumed program (System>>resumeArguments).
    for (; i < argc; i++) cl.arguments.emplace_back(argv[i]);
    return cl;
  }
  if (i >= argc) {
    error = "missing the program: a FILE.som or a class name";
    return std::nullopt;
  }
  cl.program = argv[i++];
  for (; i < argc; i++) cl.arguments.emplace_back(argv[i]);
  return cl;
}

}  // namespace hypervisor
