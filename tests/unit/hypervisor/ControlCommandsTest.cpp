// ControlCommands: espell update / status / updates against a control server whose
// `update` and `updates` handlers stand in for the update engine — the request update
// sends (the script's text and file name, never its path), what each command prints
// (readable and --json), and the exit status by outcome, for a missing VM, a missing
// script, an error answer and an answer that is not JSON.
#include "hypervisor/ControlCommands.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "hypervisor/ControlServer.h"
#include "hypervisor/ExitStatus.h"
#include "hypervisor/UnixSocket.h"
#include "tests/unit/hypervisor/GuestFixture.h"

using hypervisor::CommandLine;
using hypervisor::ControlExitStatus;
using hypervisor::ControlServer;
using nlohmann::json;

namespace {

struct Scratch {
  std::filesystem::path dir;
  Scratch() {
    static int counter = 0;
    dir = std::filesystem::temp_directory_path() /
          ("espell-commands-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
};

json record(const std::string& outcome) {
  return {{"id", 7},
          {"script", "fix-dict.st"},
          {"sha256", "ab12"},
          {"form", "script"},
          {"description", "Dictionary at:put: grows by doubling"},
          {"outcome", outcome},
          {"failedStep", outcome == "committed" ? "" : "apply"},
          {"error", outcome == "committed" ? "" : "MirrorError: no such class"},
          {"timings",
           {{"validate", 10},
            {"pause", 20},
            {"checkpoint", 30},
            {"apply", 40},
            {"verify", 50},
            {"rollback", 0},
            {"commit", 60},
            {"guestPause", 150},
            {"total", 210}}},
          {"classesChanged", 1},
          {"methodsChanged", 2},
          {"instancesMigrated", 0},
          {"pagesSaved", 3},
          {"notArrived", json::array()}};
}

struct Result {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs the command in a thread (it blocks on its answer) while this one polls `server`.
Result run(ControlServer* server, const CommandLine& cl) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  Result r;
  std::atomic<bool> done{false};
  std::thread client([&] {
    r.status = hypervisor::runControlCommand(cl, out, err);
    done = true;
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    if (server) server->poll();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  client.join();
  r.out = hypervisor::test::readAll(out);
  r.err = hypervisor::test::readAll(err);
  std::fclose(out);
  std::fclose(err);
  return r;
}

CommandLine command(CommandLine::Command c, const std::string& socket, bool asJson = false) {
  CommandLine cl;
  cl.command = c;
  cl.controlSocket = socket;
  cl.json = asJson;
  return cl;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("espell update sends the script's text and name and exits with its outcome") {
  Scratch s;
  ControlServer server(s.path("vm.sock"));
  json lastRequest;
  std::string outcome;
  server.on("update", [&](const json& request) {
    lastRequest = request;
    return json{{"ok", true}, {"record", record(outcome)}};
  });
  std::filesystem::create_directories(s.dir / "scripts");
  std::string script = s.path("scripts/fix-dict.st");
  std::ofstream(script) << "Dictionary compile: 'at: k put: v ...'\n";
  CommandLine cl = command(CommandLine::Command::Update, s.path("vm.sock"));
  cl.script = script;

  outcome = "committed";
  Result r = run(&server, cl);
  CHECK(r.status == code(ControlExitStatus::Committed));
  CHECK(lastRequest ==
        json{{"command", "update"}, {"name", "fix-dict.st"}, {"script", "Dictionary compile: 'at: k put: v ...'\n"}});
  CHECK(contains(r.out, "update 7 (fix-dict.st): committed"));
  CHECK(contains(r.out, "description: Dictionary at:put: grows by doubling"));
  CHECK(contains(r.out, "changed: 1 classes, 2 methods, 0 instances migrated, 3 pages saved"));
  CHECK(contains(r.out, "guestPause 150, total 210"));
  CHECK(!contains(r.out, "error:"));
  CHECK(r.err.empty());

  outcome = "rolled-back";
  r = run(&server, cl);
  CHECK(r.status == code(ControlExitStatus::RolledBack));
  CHECK(contains(r.out, "failed step: apply"));
  CHECK(contains(r.out, "error: MirrorError: no such class"));
  outcome = "refused";
  CHECK(run(&server, cl).status == code(ControlExitStatus::Refused));
  outcome = "timed-out";
  CHECK(run(&server, cl).status == code(ControlExitStatus::TimedOut));
  outcome = "exploded";
  r = run(&server, cl);
  CHECK(r.status == code(ControlExitStatus::ControlError));
  CHECK(contains(r.err, "no known outcome"));

  // --json: the record as one line.
  outcome = "committed";
  cl.json = true;
  r = run(&server, cl);
  CHECK(r.status == 0);
  CHECK(r.out.find('\n') == r.out.size() - 1);
  CHECK(json::parse(r.out) == record("committed"));
}

TEST_CASE("espell updates prints one line per record, or the array") {
  Scratch s;
  ControlServer server(s.path("vm.sock"));
  json records = json::array({record("committed"), record("refused")});
  records[1]["id"] = 8;
  records[1]["timings"].erase("guestPause");
  server.on("updates", [&](const json&) { return json{{"ok", true}, {"records", records}}; });
  Result r = run(&server, command(CommandLine::Command::Updates, s.path("vm.sock")));
  CHECK(r.status == 0);
  CHECK(r.out == "7  committed  fix-dict.st  guest paused 150 µs\n8  refused  fix-dict.st  guest not paused\n");
  r = run(&server, command(CommandLine::Command::Updates, s.path("vm.sock"), true));
  CHECK(json::parse(r.out) == records);
  records = json::array();
  CHECK(run(&server, command(CommandLine::Command::Updates, s.path("vm.sock"))).out == "no updates\n");
}

TEST_CASE("the control commands' failures: no VM, no script, an error answer, an answer that is not JSON") {
  Scratch s;
  CommandLine update = command(CommandLine::Command::Update, s.path("vm.sock"));
  update.script = s.path("missing.st");
  Result r = run(nullptr, update);
  CHECK(r.status == code(ControlExitStatus::ScriptUnreadable));
  CHECK(contains(r.err, "cannot read the update script"));
  std::ofstream(s.path("bad.st")) << "\xff\xfe not UTF-8";
  update.script = s.path("bad.st");
  r = run(nullptr, update);
  CHECK(r.status == code(ControlExitStatus::ScriptUnreadable));
  CHECK(contains(r.err, "not UTF-8"));

  std::ofstream(s.path("ok.st")) << "nothing";
  update.script = s.path("ok.st");
  CHECK(run(nullptr, update).status == code(ControlExitStatus::NoVm));
  r = run(nullptr, command(CommandLine::Command::Status, s.path("vm.sock")));
  CHECK(r.status == code(ControlExitStatus::NoVm));
  CHECK(contains(r.err, "espell status: no VM answers at control socket"));

  {
    ControlServer server(s.path("vm.sock"));  // no update handler: an error answer
    r = run(&server, update);
    CHECK(r.status == code(ControlExitStatus::ControlError));
    CHECK(contains(r.err, "espell update: unknown command 'update'"));
  }

  // A server that answers garbage, then one that closes without answering.
  for (std::string reply : {"this is not json\n", ""}) {
    std::string path = s.path("raw.sock");
    std::filesystem::remove(path);
    sockaddr_un address = hypervisor::unixSocketAddress(path);
    int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    std::thread fake([&] {
      int c = ::accept(listener, nullptr, nullptr);
      char buffer[4096];
      (void)::recv(c, buffer, sizeof buffer, 0);
      if (!reply.empty()) (void)::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    });
    r = run(nullptr, command(CommandLine::Command::Status, path));
    fake.join();
    ::close(listener);
    CHECK(r.status == code(ControlExitStatus::ControlError));
    CHECK(contains(r.err, reply.empty() ? "closed the connection before answering" : "answer is not JSON"));
  }
}
