// Vm: a guest program under a hypervisor — running to the end, pausing at update points
// (running processes park, blocked ones are quiescent), evaluation while paused, and
// pauses abandoned at their deadline with a report.
#include "tests/unit/hypervisor/GuestFixture.h"

using hypervisor::PauseOutcome;
using hypervisor::test::GuestFixture;
using hypervisor::test::sleepMillis;

namespace {

// Two workers count in globals and stop at update points; one process waits on a
// semaphore nobody signals, one sleeps; the main process polls for Stop every 2 ms.
const char* kBusyGuest = R"(
BusyGuest = (
    run = (
        | blocked |
        system global: #Count1 put: 0.
        system global: #Count2 put: 0.
        [ self count: #Count1 ] fork.
        [ self count: #Count2 ] fork.
        blocked := Semaphore new.
        [ blocked wait. 'never' println ] fork.
        [ (Delay forSeconds: 30) wait. 'woke' println ] fork.
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 2) wait ].
        'stopped' println )
    count: name = (
        [ (system global: #Stop) isNil ] whileTrue: [
            system global: name put: (system global: name) + 1.
            Chester updatePoint ] )
)
)";

}  // namespace

TEST_CASE("a virtualized program runs to the end with its output and exit status") {
  GuestFixture g({{"Hello", "Hello = ( run = ( 'hello from the guest' println. system exit: 3 ) )"}});
  CHECK(g.vm->runGuest("Hello", {}).status == 3);
  CHECK(g.output() == "hello from the guest\n");
}

TEST_CASE("a pause parks running processes at update points; blocked ones are quiescent") {
  GuestFixture g({{"BusyGuest", kBusyGuest}});
  g.vm->startGuest("BusyGuest", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  g.pause();
  CHECK(g.vm->guestPaused());
  int64_t c1 = g.guestInteger("^ system global: #Count1");
  int64_t c2 = g.guestInteger("^ system global: #Count2");
  CHECK(c1 > 0);
  CHECK(c2 > 0);
  // Nothing of the guest runs while it is paused, even when an evaluation waits for time.
  sleepMillis(20);
  CHECK(g.guestInteger("(Delay forMilliseconds: 10) wait. ^ system global: #Count1") == c1);
  CHECK(g.guestInteger("^ system global: #Count2") == c2);
  CHECK(g.guestInteger("^ 3 + 4") == 7);

  g.vm->resumeGuest();
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  g.pause();
  CHECK(g.guestInteger("^ system global: #Count1") > c1);
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
  CHECK(g.output() == "stopped\n");
}

TEST_CASE("a pause that cannot be reached is abandoned with a report, and the guest runs on") {
  GuestFixture g({{"Spinner", R"(
Spinner = (
    run = (
        | p n |
        p := [ self spin ] newProcess.
        p name: 'spinner'.
        p resume.
        Processor yield.
        'done' println )
    spin = ( | n | n := 0. 1 to: 30000000 do: [ :i | n := n + 1 ]. system global: #Spun put: n )
)
)"}});
  g.vm->startGuest("Spinner", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  PauseOutcome o = g.vm->pauseGuest(std::chrono::milliseconds(30));
  REQUIRE(o == PauseOutcome::Abandoned);
  const vm::PauseReport& report = g.vm->lastPauseReport();
  REQUIRE(report.notArrived.size() >= 1);
  CHECK(report.notArrived[0].name == "spinner");
  CHECK(report.notArrived[0].where.find("Spinner>>spin") != std::string::npos);
  CHECK(report.describe().find("did not reach an update point") != std::string::npos);
  CHECK(!g.vm->guestPaused());
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
  CHECK(g.output() == "done\n");
}

TEST_CASE("an error in a guest evaluation is reported and does not end the guest") {
  GuestFixture g({{"BusyGuest", kBusyGuest}});
  g.vm->startGuest("BusyGuest", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  g.pause();
  CHECK_THROWS_WITH_AS(g.vm->evaluateInGuest("^ nil frobnicate"), doctest::Contains("frobnicate"), std::runtime_error);
  CHECK_THROWS_AS(g.vm->evaluateInGuest("^ 3 +"), std::exception);
  CHECK(g.guestInteger("^ 6 * 7") == 42);
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
  CHECK(g.output() == "stopped\n");
}

TEST_CASE("the hypervisor evaluates in its own space, isolated from the guest") {
  GuestFixture g({{"BusyGuest", kBusyGuest}});
  g.vm->startGuest("BusyGuest", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  g.pause();
  g.vm->evaluateInGuest("system global: #Shared put: 1");
  space::Handle h = g.vm->evaluateInHypervisor("^ (system global: #Shared) isNil");
  CHECK(h.get() == g.vm->hypervisor().runtime().trueObject());
  CHECK(&h.space() == &g.vm->hypervisor().space());
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}
