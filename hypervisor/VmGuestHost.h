// VmGuestHost: the update engine's view (chester::GuestHost) of a Vm — pausing and
// resuming its guest, running code in either space, the guest's mirror.
#pragma once

#include "chester/GuestHost.h"
#include "hypervisor/Vm.h"

namespace hypervisor {

class VmGuestHost final : public chester::GuestHost {
 public:
  explicit VmGuestHost(Vm& vm) : vm_(vm) {}
  chester::PauseResult pause(std::chrono::microseconds deadline) override;
  void resume() override { vm_.resumeGuest(); }
  void runWhile(const std::function<bool()>& waiting, std::chrono::microseconds limit) override {
    vm_.runGuestWhile(waiting, limit);
  }
  void serve(std::chrono::microseconds budget) override { vm_.serveGuest(budget); }
  bool paused() override { return vm_.guestPaused(); }
  vm::Runtime& guestRuntime() override { return vm_.guest().runtime(); }
  mop::SpaceMirror& guestMirror() override { return vm_.mirrors().guest(); }
  space::Handle evaluateInGuest(std::string_view source) override { return vm_.evaluateInGuest(source); }
  space::Handle evaluateInGuest(std::string_view source, const std::vector<std::string>& parameters,
                                std::span<const space::Handle> arguments) override {
    return vm_.evaluateInGuest(source, parameters, arguments);
  }
  space::Handle evaluateInHypervisor(std::string_view source) override { return vm_.evaluateInHypervisor(source); }
  vm::Runtime& hypervisorRuntime() override { return vm_.hypervisor().runtime(); }
  std::string loadHypervisorClass(const std::string& source, const std::string& fileName) override;

 private:
  Vm& vm_;
};

}  // namespace hypervisor
