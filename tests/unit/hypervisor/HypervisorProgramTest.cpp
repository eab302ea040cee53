// A program of the hypervisor space (the console's way of running): turns beside the guest,
// jobs that pause it, a pause of the guest it holds too long, a program that fails.
#include "tests/unit/hypervisor/GuestFixture.h"

using hypervisor::test::GuestFixture;

namespace {

// Counts in a global while waiting on a Delay between counts, as a server's processes
// wait on their sockets; stops at #Stop.
const char* kTicker =
    "system global: #Ticks put: 0. "
    "[ (system global: #Stop) isNil ] whileTrue: [ "
    "  (Delay forMilliseconds: 1) wait. system global: #Ticks put: (system global: #Ticks) + 1 ]";

const char* kCountingGuest = R"(
CountingGuest = (
    run = (
        system global: #Count put: 0.
        [ (system global: #Stop) isNil ] whileTrue: [
            system global: #Count put: (system global: #Count) + 1.
            Chester updatePoint ] )
)
)";

// Runs the guest and the hypervisor's program in turns for about `millis`.
void runBoth(hypervisor::Vm& vm, int millis) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
  while (std::chrono::steady_clock::now() < until) {
    vm.runGuestFor(std::chrono::milliseconds(2));
    vm.runHypervisorFor(std::chrono::microseconds(500), std::chrono::milliseconds(100));
  }
}

}  // namespace

TEST_CASE("a hypervisor program runs in turns beside the guest; jobs run while it is paused") {
  GuestFixture g({{"CountingGuest", kCountingGuest}});
  hypervisor::Vm& vm = *g.vm;
  vm.startGuest("CountingGuest", {});
  vm::Runtime& hv = vm.hypervisor().runtime();
  vm.startHypervisorProgram([&hv] { hv.evaluate(kTicker); });
  REQUIRE(vm.hypervisorProgramRunning());
  runBoth(vm, 60);
  // A job (as an update's Smalltalk script) while the program runs: it is paused first.
  space::Handle ticks = vm.evaluateInHypervisor("^ system global: #Ticks");
  REQUIRE(ticks.get().isSmallInteger());
  CHECK(ticks.get().smallInteger() > 5);
  CHECK(vm.hypervisorProgramRunning());
  runBoth(vm, 20);
  CHECK(vm.evaluateInHypervisor("^ system global: #Ticks").get().smallInteger() > ticks.get().smallInteger());
  g.pause();
  CHECK(g.guestInteger("^ system global: #Count") > 1000);
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
  CHECK(vm.hypervisorProgramRunning());  // it ends with the Vm, not with the guest
}

TEST_CASE("a hypervisor program holding the guest paused too long has the pause ended for it") {
  GuestFixture g({{"CountingGuest", kCountingGuest}});
  hypervisor::Vm& vm = *g.vm;
  vm.startGuest("CountingGuest", {});
  vm.mirrors().setHostCommand([&vm](const std::string&) {
    vm.pauseGuest(std::chrono::seconds(2));
    return std::string("{}");
  });
  vm::Runtime& hv = vm.hypervisor().runtime();
  // Pauses the guest, then computes without end and never resumes it. Its turns (the
  // first one included) end the pause once it has been held for their limit.
  auto start = std::chrono::steady_clock::now();
  vm.startHypervisorProgram([&hv] { hv.evaluate("Guest hostCommand: '{}'. [ true ] whileTrue: [ ]"); });
  CHECK(vm.runHypervisorFor(std::chrono::microseconds(500), std::chrono::milliseconds(50)));
  auto held = std::chrono::steady_clock::now() - start;
  CHECK_FALSE(vm.guestPaused());
  CHECK(held >= std::chrono::milliseconds(50));
  CHECK(held < std::chrono::seconds(5));
  CHECK(vm.hypervisorRunnable());  // still computing: the host gives it turns, no more
  vm.mirrors().setHostCommand(nullptr);
  g.pause();
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

TEST_CASE("a hypervisor program that fails ends alone, and says why; the guest runs on") {
  GuestFixture g({{"CountingGuest", kCountingGuest}});
  hypervisor::Vm& vm = *g.vm;
  vm.startGuest("CountingGuest", {});
  vm::Runtime& hv = vm.hypervisor().runtime();
  vm.startHypervisorProgram([&hv] { hv.evaluate("(Delay forMilliseconds: 5) wait. nil foo"); });
  runBoth(vm, 100);
  CHECK_FALSE(vm.hypervisorProgramRunning());
  CHECK(vm.hypervisorProgramFailure().find("foo") != std::string::npos);
  // The hypervisor space serves jobs again as before.
  CHECK(vm.evaluateInHypervisor("^ 3 + 4").get().smallInteger() == 7);
  g.pause();
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}
