// update-cost: does an update cost more after many others? Applies the same update — every
// method of eight kernel and library classes recompiled and reinstalled (Exception, Error,
// Context, Process, Block, Dictionary, HttpConnection, HttpRequestParser; both sides) —
// N times to a guest whose worker processes keep using those classes, and prints the
// guest pause and apply time of each, then the medians of the first and last ten.
//
//   build/scripts/bench/update-cost [N=100] [--json]
//
// Run by scripts/bench/update; see docs/PERFORMANCE.md.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chester/Updater.h"
#include "hypervisor/Vm.h"
#include "hypervisor/VmGuestHost.h"
#include "vm/ClassLoader.h"

namespace {

const char* kWorkers = R"S(
UpdateCostGuest = (
    run = (
        HttpConnection name. HttpRequestParser name.
        1 to: 2 do: [ :i | [ self work ] fork ].
        [ true ] whileTrue: [ (Delay forMilliseconds: 1) wait ] )
    work = (
        | d |
        [ true ] whileTrue: [
            d := Dictionary new.
            1 to: 20 do: [ :i | d at: i put: i * i ].
            [ (d at: 7) / 0 ] on: ZeroDivide do: [ :e | e return: 0 ].
            [ :x | x + 1 ] value: 3.
            HttpRequestParser new.
            Chester updatePoint ] )
)
)S";

const char* kClasses[] = {"Exception", "Error",      "Context",        "Process",
                          "Block",     "Dictionary", "HttpConnection", "HttpRequestParser"};

double median(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : double(v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  int n = 100;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else {
      n = std::max(1, std::atoi(argv[i]));
    }
  }
  std::string dir = "/tmp/espell-update-cost-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  {
    std::FILE* f = std::fopen((dir + "/UpdateCostGuest.som").c_str(), "w");
    std::fputs(kWorkers, f);
    std::fclose(f);
  }
  hypervisor::VmConfig config;
  config.guest.runtime.classPath = {dir, std::string(ESPELL_SOURCE_ROOT) + "/lib/Http",
                                    std::string(ESPELL_SOURCE_ROOT) + "/lib/Json"};
  hypervisor::Vm vm(config);
  hypervisor::VmGuestHost host(vm);
  chester::Updater updater(host, chester::UpdaterOptions());
  vm.startGuest("UpdateCostGuest", {});
  vm.runGuestFor(std::chrono::milliseconds(100));

  // The update: every method of the classes, both sides, as addMethod steps.
  nlohmann::json steps = nlohmann::json::array();
  vm.pauseGuest(std::chrono::seconds(2));
  mop::SpaceMirror& guest = vm.mirrors().guest();
  size_t methods = 0;
  for (const char* name : kClasses) {
    mop::Ref cls = guest.classNamed(name);
    for (const mop::Ref& side : {cls, guest.metaclassOf(cls)}) {
      for (const std::string& selector : guest.selectors(side)) {
        std::string source = guest.sourceOf(*guest.methodAt(side, selector));
        if (source.empty() || source.find("primitive") != std::string::npos) continue;
        try {
          guest.compileMethod(side, source);  // kernel methods that assign fields the VM maintains do not recompile
        } catch (const mop::MirrorError&) {
          continue;
        }
        steps.push_back({{"op", "addMethod"},
                         {"class", name},
                         {"side", side.get() == cls.get() ? "instance" : "class"},
                         {"source", source}});
        methods++;
      }
    }
  }
  vm.resumeGuest();
  std::string script =
      nlohmann::json{{"espellUpdate", 1}, {"description", "recompile eight classes"}, {"steps", steps}}.dump();

  std::vector<int64_t> pauses, applies;
  for (int i = 0; i < n; i++) {
    chester::UpdateRecord r = updater.apply({"recompile.json", script});
    if (r.outcome != chester::Outcome::Committed) {
      std::fprintf(stderr, "update %d was not committed:\n%s", i + 1, r.describe().c_str());
      return 1;
    }
    pauses.push_back(r.timings.guestPause);
    applies.push_back(r.timings.apply);
    if (!json)
      std::printf("update %3d: guest paused %7lld us, apply %7lld us\n", i + 1, (long long)r.timings.guestPause,
                  (long long)r.timings.apply);
    vm.runGuestFor(std::chrono::milliseconds(20));
  }
  size_t k = std::min<size_t>(10, pauses.size());
  std::vector<int64_t> firstP(pauses.begin(), pauses.begin() + long(k)), lastP(pauses.end() - long(k), pauses.end());
  std::vector<int64_t> firstA(applies.begin(), applies.begin() + long(k)),
      lastA(applies.end() - long(k), applies.end());
  if (json) {
    std::printf("%s\n", nlohmann::json{{"updates", n},
                                       {"methods", methods},
                                       {"pauses", pauses},
                                       {"applies", applies},
                                       {"firstMedianPause", median(firstP)},
                                       {"lastMedianPause", median(lastP)}}
                            .dump()
                            .c_str());
  } else {
    std::printf(
        "%zu methods per update; median guest pause: first %zu %.0f us, last %zu %.0f us (ratio %.2f); "
        "median apply: first %.0f us, last %.0f us\n",
        methods, k, median(firstP), k, median(lastP), median(lastP) / std::max(1.0, median(firstP)), median(firstA),
        median(lastA));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
