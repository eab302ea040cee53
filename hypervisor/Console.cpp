// Console: see Console.h.
#include "hypervisor/Console.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "hypervisor/ConsoleSources.h"
#include "hypervisor/ImageList.h"
#include "vm/ClassLoader.h"
#include "vm/Scheduler.h"

namespace hypervisor {

std::string newConsoleToken() {
  std::random_device random;  // the kernel's random source (getrandom / /dev/urandom)
  static const char* kHex = "0123456789abcdef";
  std::string token;
  for (int i = 0; i < 8; i++) {
    uint32_t word = random();
    for (int j = 0; j < 4; j++, word >>= 4) token += kHex[word & 15];
  }
  return token;
}

Console::Console(Vm& vm, HostCommands& commands, int port, std::string snapshotDir)
    : vm_(vm), commands_(commands), token_(newConsoleToken()), snapshotDir_(std::move(snapshotDir)) {
  vm_.mirrors().setHostCommand([this](const std::string& request) { return command(request); });
  vm::Runtime& rt = vm_.hypervisor().runtime();
  std::string start = "^ ConsoleServer new serveOn: " + std::to_string(port) + " token: '" + token_ + "'";
  vm_.startHypervisorProgram([&rt, start] {
    // The libraries and the console's classes, superclasses first (consoleSources()).
    for (const vm::KernelSource& source : consoleSources()) {
      rt.loader().loadSource(source.source, std::string(source.name) + ".som");
    }
    rt.evaluate(start);
  });
  reportEnd();
}

Console::~Console() {
  vm_.mirrors().setHostCommand(nullptr);
}

void Console::serve() {
  if (vm_.hypervisorProgramRunning()) vm_.runHypervisorFor(kTurn, kMaxHold);
  // A turn never ends with the guest in the program's pause (it resumed it, or the hold
  // limit did): nothing the console holds may outlive its turn.
  if (!vm_.guestPaused()) pausedAt_ = 0;
  if (!deferred_.empty()) runDeferred();
  reportEnd();
}

void Console::reportEnd() {
  if (endReported_ || vm_.hypervisorProgramRunning()) return;
  endReported_ = true;
  const std::string& why = vm_.hypervisorProgramFailure();
  std::fprintf(stderr, "espell: the console has stopped%s%s; the guest runs on\n", why.empty() ? "" : ": ",
               why.c_str());
}

std::vector<pollfd> Console::pollDescriptors() {
  int fd = vm_.hypervisorEventFd();
  if (fd < 0) return {};
  return {{fd, POLLIN, 0}};
}

int64_t Console::nextDeadlineMicros() {
  // Deferred commands are run at the next turn.
  if (!deferred_.empty()) return 0;
  return vm_.hypervisorNextTimer();
}

std::string Console::command(const std::string& requestJson) {
  nlohmann::json request = nlohmann::json::parse(requestJson, nullptr, false);
  nlohmann::json answer;
  std::string name = request.is_object() && request.contains("command") && request["command"].is_string()
                         ? request["command"].get<std::string>()
                         : "";
  try {
    if (name == "listening") {
      port_ = request.value("port", 0);
      std::fprintf(stderr, "console listening on http://127.0.0.1:%d/?token=%s\n", port_, token_.c_str());
      std::fflush(stderr);
      answer = {{"ok", true}};
    } else if (name == "pause") {
      answer = pauseGuest(request);
    } else if (name == "resume") {
      answer = resumeGuest();
    } else if (name == "gc") {
      answer = gcFigures(request);
    } else if (name == "images") {
      answer = images(request);
    } else if (name == "update" || name == "snapshot") {
      int64_t id = nextId_++;
      deferred_.emplace_back(id, request);
      answer = {{"ok", true}, {"pending", id}};
    } else if (name == "result") {
      int64_t id = request.value("id", int64_t(0));
      auto it = results_.find(id);
      if (it == results_.end()) {
        bool queued = false;
        for (const auto& d : deferred_) queued = queued || d.first == id;
        if (!queued) throw std::runtime_error("no command " + std::to_string(id) + " is pending");
        answer = {{"ok", true}, {"pending", id}};
      } else {
        std::string text = std::move(it->second);
        results_.erase(it);
        return text;
      }
    } else {
      // status, updates and what else the host's table holds; the rest are refused there.
      answer = commands_.answer(request);
    }
  } catch (const std::exception& e) {
    answer = {{"ok", false}, {"error", e.what()}};
  }
  return answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json Console::pauseGuest(const nlohmann::json& request) {
  if (vm_.guestPaused()) throw std::runtime_error("the guest is paused already");
  int64_t deadlineMs = request.value("deadlineMs", int64_t(50));
  if (deadlineMs < 1 || deadlineMs > 2000) throw std::runtime_error("\"deadlineMs\" must be from 1 to 2000");
  int64_t requested = vm::Scheduler::nowMicros();
  PauseOutcome outcome = vm_.pauseGuest(std::chrono::milliseconds(deadlineMs));
  if (outcome == PauseOutcome::GuestFinished) throw std::runtime_error("the guest program has ended");
  if (outcome == PauseOutcome::Abandoned) {
    throw std::runtime_error("the guest did not reach its update points within " + std::to_string(deadlineMs) +
                             " ms: " + vm_.lastPauseReport().describe());
  }
  pausedAt_ = requested;
  return {{"ok", true}, {"reachMicros", vm::Scheduler::nowMicros() - requested}};
}

nlohmann::json Console::resumeGuest() {
  // Only a pause the console took: an update's pause (its script may call hostCommand:
  // too) is the update's to end.
  bool ours = pausedAt_ != 0;
  int64_t held = ours ? vm::Scheduler::nowMicros() - pausedAt_ : 0;
  pausedAt_ = 0;
  bool wasPaused = ours && vm_.guestPaused();
  if (wasPaused) vm_.resumeGuest();
  // pauseMicros: from the pause request to the resume, what the longest-waiting process saw.
  return {{"ok", true}, {"pauseMicros", held}, {"wasPaused", wasPaused}};
}

// Plain counters of the guest's space, read while its fiber is suspended: no pause. With
// "scavengesSince": N, also each scavenge after number N that the log still holds
// ("scavengeLog": the count so far, how many after N it no longer holds, and
// [endMicros, pauseMicros] of each).
nlohmann::json Console::gcFigures(const nlohmann::json& request) {
  space::Space& space = vm_.guest().space();
  const space::GcStats& stats = space.stats();
  nlohmann::json answer = {{"ok", true},
                           {"oldSpaceCommittedBytes", space.oldSpace().committedBytes()},
                           {"liveBytesAtLastFullCollection", space.oldSpace().liveBytesAtLastSweep()},
                           {"edenBytes", space.nursery().eden.capacity()},
                           {"edenUsedBytes", space.nursery().eden.used()},
                           {"scavenges", stats.scavenges},
                           {"scavengeMicros", stats.scavengeNanos / 1000},
                           {"maxScavengeMicros", stats.maxScavengeNanos / 1000},
                           {"fullCollections", stats.fullCollections},
                           {"fullCollectionMicros", stats.fullCollectionNanos / 1000},
                           {"maxFullCollectionMicros", stats.maxFullCollectionNanos / 1000},
                           {"allocatedBytes", stats.bytesAllocatedYoung + stats.bytesAllocatedOld},
                           {"promotedBytes", stats.bytesPromoted},
                           {"guestState", vm_.guestFinished() ? "finished"
                                          : vm_.guestPaused() ? "paused"
                                                              : "running"},
                           {"nowMicros", vm::Scheduler::nowMicros()}};
  if (request.contains("scavengesSince")) {
    const space::ScavengeLog& log = space.scavengeLog();
    uint64_t since = request.value("scavengesSince", uint64_t(0));
    uint64_t first = std::max(since + 1, log.oldest());
    nlohmann::json each = nlohmann::json::array();
    for (uint64_t n = first; n <= log.count(); n++) each.push_back({log.at(n).endMicros, log.at(n).nanos / 1000});
    answer["scavengeLog"] = {
        {"count", log.count()}, {"dropped", first > since + 1 ? first - since - 1 : 0}, {"scavenges", std::move(each)}};
  }
  return answer;
}

// The images on disk: every subdirectory of --snapshot-dir, then those with a manifest in
// each directory the program names (where its snapshots went), each listed once.
nlohmann::json Console::images(const nlohmann::json& request) {
  nlohmann::json listings = nlohmann::json::array();
  std::vector<std::string> seen;
  if (!snapshotDir_.empty()) {
    listings.push_back(listImages(snapshotDir_, ImageListing::EveryDirectory));
    seen.push_back(snapshotDir_);
  }
  if (request.contains("directories") && request["directories"].is_array()) {
    for (const nlohmann::json& d : request["directories"]) {
      // A program's list is short (the parents of its snapshots); a runaway one is cut.
      if (listings.size() >= 32) break;
      if (!d.is_string() || std::find(seen.begin(), seen.end(), d.get<std::string>()) != seen.end()) continue;
      seen.push_back(d.get<std::string>());
      listings.push_back(listImages(d.get<std::string>(), ImageListing::ImagesOnly));
    }
  }
  return {{"ok", true}, {"snapshotDir", snapshotDir_}, {"listings", std::move(listings)}};
}

// Updates and snapshots asked for by the console, run here in the host loop as the control
// socket runs them. At most a few: each answer is kept until the program collects it.
void Console::runDeferred() {
  while (!deferred_.empty()) {
    // It stays queued while it runs: an update resumes the program for a moment on its way
    // out, and the program may ask for this answer then.
    auto [id, request] = deferred_.front();
    nlohmann::json answer = commands_.answer(request);
    results_[id] = answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    deferred_.pop_front();
  }
  // Answers nobody collects (the page was closed) are dropped beyond a few.
  while (results_.size() > 32) results_.erase(results_.begin());
}

}  // namespace hypervisor
