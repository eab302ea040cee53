// GuestHost: what the update engine needs from the process that hosts the guest — to pause
// and resume it, to run code in it and in the hypervisor space, and its runtime and
// mirror. hypervisor::Vm provides it (hypervisor/VmGuestHost.h); tests may too. Keeping
// chester/ below hypervisor/ keeps the engine free of fibers and sockets.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mop/SpaceMirror.h"
#include "space/Handle.h"
#include "vm/Runtime.h"

namespace chester {

struct PauseResult {
  enum class Kind { Paused, TimedOut, GuestFinished };
  Kind kind = Kind::Paused;
  int64_t micros = 0;      // waiting for the guest's processes to arrive
  std::string notArrived;  // TimedOut: the processes that did not reach an update point
};

class GuestHost {
 public:
  virtual ~GuestHost() = default;
  // Every guest process stops at an update point or is blocked, by `deadline` at the
  // latest; a pause that times out leaves the guest running untouched.
  virtual PauseResult pause(std::chrono::microseconds deadline) = 0;
  virtual void resume() = 0;
  // Lets the running guest go on while `waiting()` holds, `limit` at most (a host that
  // cannot only returns): the checkpoint's arming happens meanwhile.
  virtual void runWhile(const std::function<bool()>& waiting, std::chrono::microseconds limit) {
    (void)waiting;
    (void)limit;
  }
  // Lets the running guest do the work it has ready now (requests arrived, processes
  // runnable), `budget` at most, without waiting for more (a host that cannot only
  // returns): the engine calls it between its steps before the pause.
  virtual void serve(std::chrono::microseconds budget) { (void)budget; }
  virtual bool paused() = 0;
  virtual vm::Runtime& guestRuntime() = 0;
  virtual mop::SpaceMirror& guestMirror() = 0;
  // Evaluates statements in the paused guest, alone, answering the value of a final
  // "^ expression"; throws std::runtime_error (vm::CompileError) when it fails.
  virtual space::Handle evaluateInGuest(std::string_view source) = 0;
  // The same with the statements' `parameters` bound to `arguments` (guest objects).
  virtual space::Handle evaluateInGuest(std::string_view source, const std::vector<std::string>& parameters,
                                        std::span<const space::Handle> arguments) = 0;
  // The same in the hypervisor space, where the mirror classes and the global Guest are.
  virtual space::Handle evaluateInHypervisor(std::string_view source) = 0;
  virtual vm::Runtime& hypervisorRuntime() = 0;
  // Loads a class file into the hypervisor space; answers its name. Throws on errors.
  virtual std::string loadHypervisorClass(const std::string& source, const std::string& fileName) = 0;
};

}  // namespace chester
