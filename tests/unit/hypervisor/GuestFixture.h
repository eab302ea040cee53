// GuestFixture: a Vm whose guest program is made of the given class sources (written to a
// fresh directory on the guest's class path), with the guest's output captured.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "hypervisor/Vm.h"
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

  explicit GuestFixture(std::initializer_list<std::pair<const std::string, std::string>> classes) {
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
};

inline void sleepMillis(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace hypervisor::test
