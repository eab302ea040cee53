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
        [ (system global: #Spun) isNil ] whileTrue: [ (Delay forMilliseconds: 5) wait ].
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

TEST_CASE("the hypervisor space is built beside the guest, and waited for where it is used") {
  // Destroyed before anything used the hypervisor: the destructor waits for the thread
  // building it, which holds the guest's runtime.
  { GuestFixture unused({{"Hello", "Hello = ( run = ( 'unused' println ) )"}}); }
  // The guest runs while the hypervisor is being built; the mirrors then see the guest.
  GuestFixture g({{"BusyGuest", kBusyGuest}});
  g.vm->startGuest("BusyGuest", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  g.pause();
  g.vm->evaluateInGuest("system global: #Seen put: 42");
  space::Handle name = g.vm->evaluateInHypervisor("^ (Guest classNamed: 'BusyGuest') name");
  REQUIRE(vm::isString(g.vm->hypervisor().runtime(), name.get()));
  CHECK(std::string(vm::bytesOf(name.get())) == "BusyGuest");
  CHECK(g.guestInteger("^ system global: #Seen") == 42);
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

TEST_CASE("a guest whose processes are all blocked is quiescent: the pause is reached at once") {
  GuestFixture g({{"Sleeper", R"(
Sleeper = (
    run = (
        | s |
        s := Semaphore new.
        [ s wait. 'never' println ] fork.
        (Delay forSeconds: 30) wait.
        'woke' println )
)
)"}});
  g.vm->startGuest("Sleeper", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  auto start = std::chrono::steady_clock::now();
  PauseOutcome o = g.vm->pauseGuest(std::chrono::seconds(2));
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE(o == PauseOutcome::Paused);
  CHECK(waited < std::chrono::milliseconds(500));
  CHECK(g.guestInteger("^ 6 * 7") == 42);
  g.vm->resumeGuest();
  // Pausing again works the same; then the program is stopped from inside.
  REQUIRE(g.vm->pauseGuest(std::chrono::seconds(2)) == PauseOutcome::Paused);
  CHECK_THROWS_WITH(g.vm->evaluateInGuest("system exit: 5"), "the program exited");
  g.vm->resumeGuest();
  vm::ProgramOutcome end = g.vm->finishGuest();
  CHECK(end.kind == vm::ProgramOutcome::Kind::Finished);
  CHECK(end.status == 5);
  CHECK(g.output().empty());
}

TEST_CASE("a main process looping without update points has its pause abandoned by the deadline") {
  GuestFixture g({{"Looper", R"(
Looper = (
    run = ( | x | x := 0. [ x < 200000000 ] whileTrue: [ x := x + 1 ]. 'done' println )
)
)"}});
  g.vm->startGuest("Looper", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  auto start = std::chrono::steady_clock::now();
  PauseOutcome o = g.vm->pauseGuest(std::chrono::milliseconds(50));
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE(o == PauseOutcome::Abandoned);
  CHECK(waited < std::chrono::milliseconds(500));
  REQUIRE(g.vm->lastPauseReport().notArrived.size() == 1);
  CHECK(g.vm->lastPauseReport().notArrived[0].where.find("Looper>>run") != std::string::npos);
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
  CHECK(g.output() == "done\n");
}

TEST_CASE("a loop of thisContext restarts still reaches the deadline check") {
  GuestFixture g({{"Restarter", R"(
Restarter = (
    run = ( | n | n := 0. self loop: [ n := n + 1. n < 3000000 ]. 'done' println )
    loop: aBlock = ( | ctx | ctx := thisContext. aBlock value ifTrue: [ ctx restart ] )
)
)"}});
  g.vm->startGuest("Restarter", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  auto start = std::chrono::steady_clock::now();
  PauseOutcome o = g.vm->pauseGuest(std::chrono::milliseconds(50));
  auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE(o == PauseOutcome::Abandoned);
  CHECK(waited < std::chrono::milliseconds(500));
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
  CHECK(g.output() == "done\n");
}

TEST_CASE("pauses of a program that never reaches an update point end by their deadline, every time") {
  GuestFixture g({{"Looper", "Looper = ( run = ( | x | x := 0. 1 to: 100000000000 do: [ :i | x := x + 1 ] ) )"}});
  g.vm->startGuest("Looper", {});  // no time to settle: the first pause comes at once
  for (int i = 0; i < 3; i++) {
    auto start = std::chrono::steady_clock::now();
    CHECK(g.vm->pauseGuest(std::chrono::milliseconds(30)) == PauseOutcome::Abandoned);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(300));
  }
  // An exit the host asks for while the guest is between pauses ends the program.
  g.vm->guest().runtime().requestExit(4);
  CHECK(g.vm->finishGuest().status == 4);
}

TEST_CASE("a pause requested while a long primitive runs is abandoned by its deadline, not held off") {
  // Printing a 2.4-million-digit integer is one primitive of seconds; it polls the heartbeat
  // (vm/LongOperation.h), so the host keeps control and the pause times out on time.
  GuestFixture g({{"Printer", R"(
Printer = (
    run = ( | x | x := (1 << 8000000) - 1. 'started' println. system flush. [ true ] whileTrue: [ x printString ] )
)
)"}});
  g.vm->startGuest("Printer", {});
  for (int i = 0; i < 6000 && g.output().find("started") == std::string::npos; i++) {
    g.vm->runGuestFor(std::chrono::milliseconds(10));
  }
  REQUIRE(g.output().find("started") != std::string::npos);
  g.vm->runGuestFor(std::chrono::milliseconds(20));  // inside printString now
  auto start = std::chrono::steady_clock::now();
  PauseOutcome o = g.vm->pauseGuest(std::chrono::milliseconds(50));
  auto waited = std::chrono::steady_clock::now() - start;
  CHECK(o == PauseOutcome::Abandoned);
  CHECK(waited < std::chrono::milliseconds(1000));
  g.vm->guest().runtime().requestExit(0);
  CHECK(g.vm->finishGuest().status == 0);
}

namespace {

// A pipe whose read end is a host descriptor of the Vm; readable once poke() wrote to it.
struct HostPipe {
  int fds[2] = {-1, -1};
  HostPipe() { REQUIRE(::pipe(fds) == 0); }
  ~HostPipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  void poke() const { REQUIRE(::write(fds[1], "x", 1) == 1); }
  void drain() const {
    char c;
    REQUIRE(::read(fds[0], &c, 1) == 1);
  }
  void watchFrom(hypervisor::Vm& vm) const {
    int fd = fds[0];
    vm.setHostEvents([fd] { return std::vector<pollfd>{{fd, POLLIN, 0}}; });
  }
};

double secondsOfRunGuestFor(hypervisor::Vm& vm, std::chrono::milliseconds budget) {
  auto start = std::chrono::steady_clock::now();
  CHECK(!vm.runGuestFor(budget));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("runGuestFor returns early when a host descriptor is ready, while the guest waits or computes") {
  const char* source = R"(
Guest = (
    run = ( [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 500) wait ] )
    spin = ( [ (system global: #Stop) isNil ] whileTrue: [ Chester updatePoint ] )
)
)";
  GuestFixture g({{"Guest", source}});
  HostPipe pipe;
  pipe.watchFrom(*g.vm);
  g.vm->startGuest("Guest", {});
  // Nothing ready: the whole budget runs.
  CHECK(secondsOfRunGuestFor(*g.vm, std::chrono::milliseconds(50)) >= 0.045);
  // Every process waits: the host's wait returns at once.
  pipe.poke();
  CHECK(secondsOfRunGuestFor(*g.vm, std::chrono::seconds(10)) < 1.0);
  // A computing process: the heartbeat notices within SpaceHost::kHostCheckIntervalMicros.
  pipe.drain();
  g.pause();
  g.vm->evaluateInGuest("[ Guest new spin ] fork");
  g.vm->resumeGuest();
  CHECK(secondsOfRunGuestFor(*g.vm, std::chrono::milliseconds(50)) >= 0.045);
  pipe.poke();
  CHECK(secondsOfRunGuestFor(*g.vm, std::chrono::seconds(10)) < 1.0);
  g.pause();
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  g.vm->setHostEvents(nullptr);
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

TEST_CASE("the guest runs on while a condition holds, within a limit, and not when paused") {
  GuestFixture g({{"BusyGuest", kBusyGuest}});
  g.vm->startGuest("BusyGuest", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  // Until the workers have counted past a mark: the condition ends it.
  g.pause();
  int64_t mark = g.guestInteger("^ system global: #Count1") + 1000;
  g.vm->resumeGuest();
  auto count = [&] {
    g.pause();
    int64_t c = g.guestInteger("^ system global: #Count1");
    g.vm->resumeGuest();
    return c;
  };
  g.vm->runGuestWhile([&] { return count() < mark; }, std::chrono::seconds(5));
  CHECK(count() >= mark);
  // A condition that always holds: the limit ends it.
  auto start = std::chrono::steady_clock::now();
  g.vm->runGuestWhile([] { return true; }, std::chrono::milliseconds(30));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= std::chrono::milliseconds(30));
  // Paused: it returns at once, and nothing of the guest runs.
  g.pause();
  int64_t c = g.guestInteger("^ system global: #Count1");
  g.vm->runGuestWhile([] { return true; }, std::chrono::seconds(5));
  CHECK(g.guestInteger("^ system global: #Count1") == c);
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

TEST_CASE("serving the guest runs the work it has now and does not wait for more") {
  const char* source = R"(
Guest = (
    run = (
        system global: #Served put: 0.
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 500) wait ] )
    work = ( 1 to: 100 do: [ :i | system global: #Served put: (system global: #Served) + 1. Chester updatePoint ] )
)
)";
  GuestFixture g({{"Guest", source}});
  g.vm->startGuest("Guest", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  // Idle (its one process waits on a Delay): it returns well before the budget.
  auto start = std::chrono::steady_clock::now();
  g.vm->serveGuest(std::chrono::seconds(10));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  // A process made ready: it runs to its end within the budget.
  g.pause();
  g.vm->evaluateInGuest("[ Guest new work ] fork");
  g.vm->resumeGuest();
  g.vm->serveGuest(std::chrono::seconds(10));
  g.pause();
  CHECK(g.guestInteger("^ system global: #Served") == 100);
  // Paused: nothing of it runs.
  g.vm->evaluateInGuest("[ Guest new work ] fork");
  g.vm->serveGuest(std::chrono::seconds(10));
  CHECK(g.guestInteger("^ system global: #Served") == 100);
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}
