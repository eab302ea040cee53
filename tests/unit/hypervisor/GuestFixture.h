// GuestFixture: a Vm whose guest program is made of the given class sources (written to a
// fresh directory on the guest's class path), with the guest's output captured.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "hypervisor/Vm.h"
#include "space/LazySweep.h"
#include "vm/Objects.h"

namespace hypervisor::test {

inline std::string readAll(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
  std::fseek(f, 0, SEEK_END);
  return text;
}

struct GuestFixture {
  std::filesystem::path dir;
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  std::unique_ptr<Vm> vm;

  // `configure` adjusts the Vm's configuration last (a test's own heap settings).
  explicit GuestFixture(std::initializer_list<std::pair<const std::string, std::string>> classes,
                        const std::function<void(VmConfig&)>& configure = {}) {
    static int counter = 0;
    dir = std::filesystem::temp_directory_path() /
          ("espell-guest-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir);
    for (const auto& [name, source] : classes) std::ofstream(dir / (name + ".som")) << source;
    VmConfig config;
    config.guest.runtime.classPath = {dir.string()};
    config.guest.runtime.out = out;
    config.guest.runtime.err = err;
    config.guest.space.edenBytes = size_t(4) << 20;
    config.guest.space.survivorBytes = size_t(1) << 20;
    config.guest.space.reservationBytes = size_t(8) << 30;
    config.hypervisor.runtime.out = out;
    config.hypervisor.runtime.err = err;
    if (configure) configure(config);
    vm = std::make_unique<Vm>(config);
  }
  GuestFixture(const GuestFixture&) = delete;
  GuestFixture& operator=(const GuestFixture&) = delete;
  ~GuestFixture() {
    vm.reset();
    std::fclose(out);
    std::fclose(err);
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  std::string output() { return readAll(out); }
  std::string errors() { return readAll(err); }

  // The value of a guest expression (the guest must be paused), as a C++ integer.
  int64_t guestInteger(const std::string& source) {
    space::Handle h = vm->evaluateInGuest(source);
    REQUIRE(h.get().isSmallInteger());
    return h.get().smallInteger();
  }
  std::string guestString(const std::string& source) {
    space::Handle h = vm->evaluateInGuest(source);
    REQUIRE(vm::isString(vm->guest().runtime(), h.get()));
    return std::string(vm::bytesOf(h.get()));
  }

  // Pauses the guest, failing the test when the pause is not reached.
  void pause() {
    PauseOutcome o = vm->pauseGuest(std::chrono::seconds(5));
    if (o == PauseOutcome::Abandoned) FAIL(vm->lastPauseReport().describe());
    REQUIRE(o == PauseOutcome::Paused);
  }

  // A configuration (for the constructor's `configure`) in which every collection that
  // falls due sweeps lazily, a segment a step (space/LazySweep.h).
  static void sweepLazily(VmConfig& config) {
    config.guest.space.lazySweepMinBytes = 0;
    config.guest.space.maxMarkingStepMicros = 1;
  }
  // With sweepLazily, between the running guest's slices: large garbage over several
  // segments, a third of it kept (global #Kept), and a due collection whose sweep is left
  // to run.
  void leaveLazySweep() {
    pause();
    vm->evaluateInGuest(
        "| kept | kept := Array new: 16. 1 to: 48 do: [ :i | | a | a := Array new: 100000. "
        "(i rem: 3) = 0 ifTrue: [ kept at: i / 3 put: a ] ]. system global: #Kept put: kept");
    vm->resumeGuest();
    space::Space& s = vm->guest().space();
    s.collectDueGarbage();
    REQUIRE(s.sweeping());
    REQUIRE(s.lazySweep()->bytesToSweep() > 2 * space::OldSpace::kDefaultSegmentBytes);
  }
};

inline void sleepMillis(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace hypervisor::test
