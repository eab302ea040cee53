// The mirror MOP against a live, busy guest under a hypervisor. After every operation the
// heap verifier runs over both spaces (headers, class indexes, no oop of one space in the
// other). Each scenario is one of the MOP's uses (docs/ARCHITECTURE.md, "mop/"): code loading (moving do: from
// SequenceableCollection to Object), reconfiguring the VM (a SmallInteger class with
// asPoint), instance migration (Point(x,y) -> Point(x,y,z) by swapping identities),
// execution (unwinding, restarting a frame with a new method version, inserting frames,
// creating and terminating processes), and precise errors that leave the guest unchanged.
#include <algorithm>
#include <chrono>

#include "mop/SpaceMirror.h"
#include "space/HeapVerifier.h"
#include "tests/unit/hypervisor/GuestFixture.h"

using hypervisor::test::GuestFixture;
using mop::MirrorError;
using mop::Ref;
using mop::SpaceMirror;

namespace {

void verifyBoth(GuestFixture& g) {
  space::VerificationReport guest = space::verifyHeap(g.vm->guest().space());
  space::VerificationReport hyper = space::verifyHeap(g.vm->hypervisor().space());
  INFO(guest.summary());
  INFO(hyper.summary());
  REQUIRE(guest.ok());
  REQUIRE(hyper.ok());
}

void stopAndFinish(GuestFixture& g) {
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

void runAWhile(GuestFixture& g, int ms = 20) {
  g.vm->resumeGuest();
  g.vm->runGuestFor(std::chrono::milliseconds(ms));
  g.pause();
}

// Workers iterate over an Array with do: (inherited from SequenceableCollection) and count
// the sums that were right and wrong; the main process waits for Stop.
const char* kCollectionLooper = R"(
Looper = (
    run = (
        system global: #Good put: 0.
        system global: #Bad put: 0.
        1 to: 3 do: [ :i | [ self loop ] fork ].
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 1) wait ].
        'bad: ' print. (system global: #Bad) println )
    loop = (
        | items |
        items := Array new: 100.
        1 to: 100 do: [ :i | items at: i put: i ].
        [ (system global: #Stop) isNil ] whileTrue: [
            | sum |
            sum := 0.
            items do: [ :each | sum := sum + each ].
            sum = 5050
                ifTrue: [ system global: #Good put: (system global: #Good) + 1 ]
                ifFalse: [ system global: #Bad put: (system global: #Bad) + 1 ].
            Chester updatePoint ] )
)
)";

}  // namespace

TEST_CASE("do: moves from SequenceableCollection to Object under a busy guest, which never sees the gap") {
  GuestFixture g({{"Looper", kCollectionLooper}});
  g.vm->startGuest("Looper", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  int64_t goodBefore = g.guestInteger("^ system global: #Good");
  CHECK(goodBefore > 0);

  Ref sequenceable = guest.classNamed("SequenceableCollection");
  Ref object = guest.classNamed("Object");
  std::string source = guest.sourceOf(*guest.methodAt(sequenceable, "do:"));
  guest.removeMethod(sequenceable, "do:");
  verifyBoth(g);
  CHECK(!guest.methodAt(sequenceable, "do:"));
  // The gap is real: code of the guest run now would fail ...
  CHECK_THROWS_WITH(g.vm->evaluateInGuest("#(1 2) do: [ :x | x ]. ^ 0"), doctest::Contains("do:"));
  // ... while the hypervisor, whose kernel is its own, is unaffected.
  space::Handle six = g.vm->evaluateInHypervisor("| s | s := 0. #(1 2 3) do: [ :x | s := s + x ]. ^ s");
  CHECK(six.get().smallInteger() == 6);

  Ref method = guest.compileMethod(object, source);
  verifyBoth(g);
  guest.installMethod(object, method);
  verifyBoth(g);
  CHECK(guest.methodAt(object, "do:"));

  runAWhile(g);
  CHECK(g.guestInteger("^ system global: #Good") > goodBefore);
  CHECK(g.guestInteger("^ system global: #Bad") == 0);
  stopAndFinish(g);
  CHECK(g.output() == "bad: 0\n");
  // The only error is the deliberate evaluation's: no guest process failed.
  CHECK(g.errors().find("Looper") == std::string::npos);
}

// Adds 1 to 1000 in a counted loop, over and over; the total is always a multiple of 500500.
const char* const kAdder = R"(
Adder = (
    run = (
        | total |
        total := 0.
        [ (system global: #Stop) isNil ] whileTrue: [
            1 to: 1000 do: [ :i | total := total + i ].
            system global: #Total put: total.
            Chester updatePoint ].
        (total \\ 500500) println )
)
)";

TEST_CASE("the class of SmallIntegers is replaced by a subclass with asPoint") {
  GuestFixture g({{"Adder", kAdder}});
  g.vm->startGuest("Adder", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  Ref integer = guest.specialObject("ClassSmallInteger");
  CHECK(guest.className(integer) == "Integer");
  CHECK_THROWS_AS(g.vm->evaluateInGuest("^ 3 asPoint"), std::runtime_error);

  Ref cls = guest.createClass("SmallIntegerWithPoints", integer, {});
  verifyBoth(g);
  guest.installMethod(cls, guest.compileMethod(cls, "asPoint = ( ^ Point x: self y: self )"));
  guest.setSpecialObject("ClassSmallInteger", cls);
  verifyBoth(g);
  CHECK(g.guestString("^ 3 asPoint asString") == "3@3");
  CHECK(g.guestString("^ 3 class name asString") == "SmallIntegerWithPoints");
  CHECK(g.guestInteger("^ 3 + 4") == 7);
  CHECK(g.guestInteger("^ (1 to: 10) inject: 0 into: [ :a :b | a + b ]") == 55);
  // The hypervisor's integers are its own.
  CHECK(g.vm->evaluateInHypervisor("^ 3 respondsTo: #asPoint").get() == g.vm->hypervisor().runtime().falseObject());

  runAWhile(g, 10);
  stopAndFinish(g);
  CHECK(g.output() == "0\n");
  CHECK(g.errors().find("Adder") == std::string::npos);  // only the deliberate 3 asPoint failed
}

TEST_CASE("counted loops and && of a running guest send redefined SmallInteger comparisons and True>>&&") {
  // to:do: and timesRepeat: step with ForLoopUp, downTo:do: with ForLoopDown, while
  // SmallInteger's <= and >= are the VM's; once redefined, every step sends them.
  GuestFixture g({{"Adder", kAdder}});
  g.vm->startGuest("Adder", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  Ref integer = guest.specialObject("ClassSmallInteger");
  CHECK(g.guestInteger("| n | n := 0. 1 to: 10 do: [ :i | n := n + i ]. 10 downTo: 1 do: [ :i | n := n + i ]. ^ n") ==
        110);
  g.vm->evaluateInGuest("system global: #Compares put: 0");
  guest.installMethod(integer, guest.compileMethod(integer, R"(<= other = (
      system global: #Compares put: (system global: #Compares) + 1.
      ^ (self > other) not ))"));
  guest.installMethod(integer, guest.compileMethod(integer, R"(>= other = (
      system global: #Compares put: (system global: #Compares) + 1.
      ^ (self < other) not ))"));
  verifyBoth(g);
  CHECK(g.guestInteger("system global: #Compares put: 0. 1 to: 10 do: [ :i | ]. ^ system global: #Compares") == 11);
  CHECK(g.guestInteger("system global: #Compares put: 0. 10 downTo: 1 do: [ :i | ]. ^ system global: #Compares") == 11);
  CHECK(g.guestInteger("system global: #Compares put: 0. 3 timesRepeat: [ ]. ^ system global: #Compares") == 4);
  // && of Booleans answers inline (SendAnd) while True>>&& is the kernel's; redefined, it is sent.
  CHECK(g.guestInteger("^ ((1 > 0) && (2 > 1)) ifTrue: [ 1 ] ifFalse: [ 0 ]") == 1);
  Ref trueClass = guest.classNamed("True");
  guest.installMethod(trueClass, guest.compileMethod(trueClass, R"(&& other = (
      system global: #Compares put: (system global: #Compares) + 100.
      ^ other value ))"));
  verifyBoth(g);
  CHECK(g.guestInteger("system global: #Compares put: 0. ((1 > 0) && (2 > 1)) ifFalse: [ ^ -1 ]. "
                       "^ system global: #Compares") == 100);
  int64_t before = g.guestInteger("^ system global: #Total");
  g.vm->evaluateInGuest("system global: #Compares put: 0");
  runAWhile(g);
  int64_t after = g.guestInteger("^ system global: #Total");
  int64_t outerLoops = (after - before) / 500500;
  CHECK(outerLoops > 0);
  CHECK(g.guestInteger("^ system global: #Compares") >= outerLoops * 1001);
  stopAndFinish(g);
  CHECK(g.output() == "0\n");
}

TEST_CASE("setter statements and Array fills of a running guest send redefined setters, #value and <=") {
  // A quick setter's dropped answer is popped at once, and Array>>putAll: fills without
  // sends while every send of its body would find the kernel's method; redefined through
  // mirrors, the running guest's already-cached sites and fills send them.
  GuestFixture g({{"Adder", kAdder}});
  g.vm->startGuest("Adder", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  Ref box = guest.createClass("Box", guest.classNamed("Object"), {"x"});
  guest.installClass(box);
  guest.installMethod(box, guest.compileMethod(box, "x = ( ^ x )"));
  guest.installMethod(box, guest.compileMethod(box, "x: v = ( x := v )"));
  guest.installMethod(box, guest.compileMethod(box, "fill: n = ( 1 to: n do: [ :i | self x: i ] )"));
  guest.installMethod(box, guest.compileMethod(box, "sevens = ( ^ Array new: 3 withAll: 7 )"));
  verifyBoth(g);
  g.vm->evaluateInGuest("system global: #Box put: Box new. system global: #Sends put: 0");
  // Run both once: the setter's site caches the quick method.
  CHECK(g.guestInteger("(system global: #Box) fill: 10. ^ (system global: #Box) x") == 10);
  CHECK(g.guestInteger("^ ((system global: #Box) sevens) inject: 0 into: [ :a :b | a + b ]") == 21);
  guest.installMethod(box, guest.compileMethod(box, R"(x: v = (
      system global: #Sends put: (system global: #Sends) + 1.
      x := v * 2 ))"));
  Ref integer = guest.specialObject("ClassSmallInteger");
  guest.installMethod(integer, guest.compileMethod(integer, R"(value = (
      system global: #Sends put: (system global: #Sends) + 100.
      ^ self + 1 ))"));
  verifyBoth(g);
  CHECK(g.guestInteger("(system global: #Box) fill: 10. ^ (system global: #Box) x") == 20);
  CHECK(g.guestInteger("^ system global: #Sends") == 10);
  CHECK(g.guestInteger("^ ((system global: #Box) sevens) inject: 0 into: [ :a :b | a + b ]") == 24);
  CHECK(g.guestInteger("^ system global: #Sends") == 310);
  // The fill's counted loop sends a redefined <= (four tests for three elements).
  guest.installMethod(integer, guest.compileMethod(integer, "value = ( ^ self )"));
  guest.installMethod(integer, guest.compileMethod(integer, R"(<= other = (
      system global: #Sends put: (system global: #Sends) + 1000.
      ^ (self > other) not ))"));
  verifyBoth(g);
  g.vm->evaluateInGuest("system global: #Sends put: 0");
  CHECK(g.guestInteger("| a | a := (system global: #Box) sevens. ^ (system global: #Sends) + (a at: 3)") == 4007);
  runAWhile(g, 10);
  stopAndFinish(g);
  CHECK(g.output() == "0\n");
}

TEST_CASE("field readers of a running guest, answered at fused sends, are sent once redefined") {
  // A fused push and Send (PushTempSend, PushArgumentSend, PushFieldSend, PushSelfSend)
  // whose site holds a field reader for the receiver's class answers the field without a
  // send; redefined through mirrors, as another reader or as an ordinary method, the
  // already-cached sites of the running guest answer what the new method does.
  GuestFixture g({{"Adder", kAdder}});
  g.vm->startGuest("Adder", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  Ref box = guest.createClass("Box", guest.classNamed("Object"), {"x", "y", "other"});
  guest.installClass(box);
  guest.installMethod(box, guest.compileMethod(box, "x = ( ^ x )"));
  guest.installMethod(box, guest.compileMethod(box, "setUp = ( x := 3. y := 4. other := Box new. other x: 5; y: 6 )"));
  guest.installMethod(box, guest.compileMethod(box, "x: v = ( x := v )"));
  guest.installMethod(box, guest.compileMethod(box, "y: v = ( y := v )"));
  // The four fused forms: a temporary, an argument, a field and self as the receiver.
  guest.installMethod(box, guest.compileMethod(box, R"(sum: b = (
      | t s |
      t := b. s := 0.
      1 to: 10 do: [ :i | s := s + t x + b x + other x + self x ].
      ^ s ))"));
  verifyBoth(g);
  g.vm->evaluateInGuest("system global: #Box put: Box new setUp. system global: #Sends put: 0");
  const char* sum = "| b | b := system global: #Box. ^ b sum: b";
  CHECK(g.guestInteger(sum) == 140);  // 10 * (3 + 3 + 5 + 3)
  guest.installMethod(box, guest.compileMethod(box, "x = ( ^ y )"));
  verifyBoth(g);
  CHECK(g.guestInteger(sum) == 180);  // 10 * (4 + 4 + 6 + 4)
  guest.installMethod(box, guest.compileMethod(box, R"(x = (
      system global: #Sends put: (system global: #Sends) + 1.
      ^ x * 10 ))"));
  verifyBoth(g);
  CHECK(g.guestInteger(sum) == 1400);
  CHECK(g.guestInteger("^ system global: #Sends") == 40);
  runAWhile(g, 10);
  stopAndFinish(g);
  CHECK(g.output() == "0\n");
}

TEST_CASE("Double arithmetic chains, // and paired sends of a running guest send redefined Double methods") {
  // Double + - * and < > go on from one to the next on unboxed doubles, and // answers
  // inline, while Double's methods are the kernel's; redefined through mirrors, the
  // already-run methods of the guest send them.
  GuestFixture g({{"Adder", kAdder}});
  g.vm->startGuest("Adder", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  Ref calc = guest.createClass("Calc", guest.classNamed("Object"), {});
  guest.installClass(calc);
  guest.installMethod(calc, guest.compileMethod(calc, R"(chain: x = (
      | t |
      t := x * 2.0 + 1.5 - 0.25.
      ^ t * 2.0 + 0.5 > 3.0 ifTrue: [ t * 4.0 ] ifFalse: [ 0.0 ] ))"));
  guest.installMethod(calc, guest.compileMethod(calc, "divide: x = ( ^ 10.0 // (x * 2.0) )"));
  // A paired instruction (PushTempPushTempSendAdd) runs SendAdd's handler and its guards.
  guest.installMethod(calc, guest.compileMethod(calc, "paired: x = ( | t u | t := x. u := 0.5. ^ t + u > 2.0 )"));
  // A chain stored into a temporary goes on with the next statement's Double sends
  // (chain_restart), reading the stored temporaries unboxed.
  guest.installMethod(calc, guest.compileMethod(calc, R"(restart: x = (
      | t u |
      t := x * 2.0. u := t * t. t := 2.0 * u + t.
      ^ t + u ))"));
  verifyBoth(g);
  g.vm->evaluateInGuest("system global: #Calc put: Calc new. system global: #Sends put: 0");
  const char* chain = "^ ((system global: #Calc) chain: 1.0) asInteger";
  const char* divide = "^ (((system global: #Calc) divide: 2.0) * 10) asInteger";
  CHECK(g.guestInteger(chain) == 13);
  CHECK(g.guestInteger(divide) == 25);
  CHECK(g.guestInteger("^ ((system global: #Calc) paired: 1.0) ifTrue: [ 1 ] ifFalse: [ 0 ]") == 0);
  const char* restart = "^ ((system global: #Calc) restart: 1.0) asInteger";
  CHECK(g.guestInteger(restart) == 14);
  Ref doubleClass = guest.classNamed("Double");
  guest.installMethod(doubleClass, guest.compileMethod(doubleClass, R"(// other = (
      system global: #Sends put: (system global: #Sends) + 1.
      ^ self / other ))"));
  verifyBoth(g);
  CHECK(g.guestInteger(divide) == 25);
  CHECK(g.guestInteger(chain) == 13);
  CHECK(g.guestInteger("^ system global: #Sends") == 1);
  guest.installMethod(doubleClass, guest.compileMethod(doubleClass, R"(+ other = (
      system global: #Sends put: (system global: #Sends) + 100.
      ^ self - other negated ))"));
  verifyBoth(g);
  g.vm->evaluateInGuest("system global: #Sends put: 0");
  CHECK(g.guestInteger(chain) == 13);
  CHECK(g.guestInteger("^ system global: #Sends") == 200);
  CHECK(g.guestInteger(divide) == 25);
  CHECK(g.guestInteger("^ system global: #Sends") == 201);
  CHECK(g.guestInteger("^ ((system global: #Calc) paired: 2.0) ifTrue: [ 1 ] ifFalse: [ 0 ]") == 1);
  CHECK(g.guestInteger("^ system global: #Sends") == 301);
  CHECK(g.guestInteger(restart) == 14);
  CHECK(g.guestInteger("^ system global: #Sends") == 501);
  runAWhile(g, 10);
  stopAndFinish(g);
  CHECK(g.output() == "0\n");
}

TEST_CASE("100k points migrate from Point(x,y) to Point(x,y,z) by swapping identities") {
  GuestFixture g({{"Plane", R"(
Plane = (
    run: args = (
        | n points byIndex |
        n := (args at: 2) asInteger.
        points := Array new: n.
        1 to: n do: [ :i | points at: i put: (Point x: i y: 2 * i) ].
        byIndex := Dictionary new.
        1 to: n by: 1000 do: [ :i | byIndex at: i put: (points at: i) ].
        system global: #Points put: points.
        system global: #ByIndex put: byIndex.
        [ (system global: #Stop) isNil ] whileTrue: [
            | sum |
            sum := 0.
            points do: [ :p | sum := sum + p x + p y ].
            system global: #Sum put: sum.
            Chester updatePoint ] )
)
)"}});
  // Collecting at every allocation (the GC-stress build) makes 100k points too slow.
  const int64_t points = space::kGcStressBuild ? 3000 : 100000;
  g.vm->startGuest("Plane", {std::to_string(points)});
  g.pause();
  // Let the guest build its points and sum them at least once.
  for (int i = 0; i < 200 && g.vm->evaluateInGuest("^ system global: #Sum").get() == g.vm->guest().runtime().nil();
       i++) {
    runAWhile(g, 10);
  }
  SpaceMirror guest(g.vm->guest().runtime());
  const int64_t expectedSum = 3 * (points * (points + 1) / 2);
  REQUIRE(g.guestInteger("^ system global: #Sum") == expectedSum);

  Ref oldPoint = guest.classNamed("Point");
  Ref newPoint = guest.createClass("Point", guest.superclassOf(oldPoint), {"x", "y", "z"});
  for (const std::string& selector : guest.selectors(oldPoint)) {
    guest.installMethod(newPoint, guest.compileMethod(newPoint, guest.sourceOf(*guest.methodAt(oldPoint, selector))));
  }
  guest.installMethod(newPoint, guest.compileMethod(newPoint, "z = ( ^ z )"));
  Ref oldMeta = guest.metaclassOf(oldPoint), newMeta = guest.metaclassOf(newPoint);
  for (const std::string& selector : guest.selectors(oldMeta)) {
    guest.installMethod(newMeta, guest.compileMethod(newMeta, guest.sourceOf(*guest.methodAt(oldMeta, selector))));
  }
  verifyBoth(g);

  Ref olds = guest.allInstances(oldPoint);
  size_t n = guest.sizeOf(olds);
  CHECK(n >= size_t(points));
  Ref news = guest.newInstance(guest.classNamed("Array"), n);
  Ref zero = guest.integer(0);
  for (size_t i = 1; i <= n; i++) {
    Ref old = guest.at(olds, i);
    Ref fresh = guest.newInstance(newPoint);
    guest.slotAtPut(fresh, "x", guest.slotAt(old, "x"));
    guest.slotAtPut(fresh, "y", guest.slotAt(old, "y"));
    guest.slotAtPut(fresh, "z", zero);
    g.vm->guest().space().storePointer(news.get(), i - 1, fresh.get());
  }
  verifyBoth(g);
  auto start = std::chrono::steady_clock::now();
  guest.swapIdentities(olds, news);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("swapIdentities of " << n << " pairs: " << micros << " us");
  guest.installClass(newPoint);
  verifyBoth(g);

  CHECK(g.guestInteger("^ (Points at: 500) z") == 0);
  CHECK(g.guestInteger("^ (Points at: 500) y") == 1000);
  CHECK(g.guestInteger("^ Points size") == points);
  CHECK(g.guestString("^ ((ByIndex at: 1001) == (Points at: 1001)) asString") == "true");
  CHECK(g.guestString("^ ((Points at: 7) class == Point) asString") == "true");
  CHECK(g.guestString("^ (Point x: 1 y: 2) z asString") == "nil");
  runAWhile(g, 20);
  CHECK(g.guestInteger("^ system global: #Sum") == expectedSum);
  CHECK(g.guestString("^ (Points at: 9) class instanceVariableNames asString").find("z") != std::string::npos);
  stopAndFinish(g);
  CHECK(g.errors().empty());
}

namespace {

// A worker whose loop calls step, which stops at an update point; compute records what
// step answered. The main process waits for Stop.
const char* kWorker = R"(
Worker = (
    | steps version inserted result unwound |
    run = (
        | p |
        steps := 0. version := 1.
        p := [ self loop ] newProcess.
        p name: 'worker'.
        p resume.
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 1) wait ].
        ('version ' + version asString) println )
    loop = ( [ (system global: #Stop) isNil ] whileTrue: [ self compute ] )
    compute = ( result := self step. result < 0 ifTrue: [ unwound := result ] )
    step = ( steps := steps + 1. Chester updatePoint. ^ steps )
    note: value = ( inserted := value )
    steps = ( ^ steps )
    version = ( ^ version )
    inserted = ( ^ inserted )
    result = ( ^ result )
)
)";

// The worker process and the Worker instance of a paused kWorker guest.
struct WorkerParts {
  Ref process;
  Ref worker;
};

WorkerParts findWorker(SpaceMirror& guest) {
  for (mop::ProcessView& p : guest.processes()) {
    if (p.name == "worker") {
      std::vector<mop::FrameView> frames = guest.frames(p.process);
      REQUIRE(frames.size() >= 3);
      return {p.process, frames[0].receiver};
    }
  }
  FAIL("no worker process");
  return {};
}

}  // namespace

TEST_CASE("frames of a paused process are listed with methods, receivers, pcs and temporaries") {
  GuestFixture g({{"Worker", kWorker}});
  g.vm->startGuest("Worker", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  WorkerParts w = findWorker(guest);
  CHECK(guest.viewOf(w.process).status == mop::ProcessStatus::Paused);
  std::vector<mop::FrameView> frames = guest.frames(w.process);
  CHECK(frames[0].selector == "step");
  CHECK(frames[0].description.find("Worker>>step (line") != std::string::npos);
  CHECK(frames[1].selector == "compute");
  CHECK(frames[2].selector == "loop");
  CHECK(guest.describe(frames[0].receiver) == "a Worker");
  CHECK(frames[0].line > 0);
  // The main process waits on a Delay: quiescent, not paused.
  size_t waiting = 0;
  for (mop::ProcessView& p : guest.processes()) waiting += p.status == mop::ProcessStatus::Waiting;
  CHECK(waiting >= 1);
  stopAndFinish(g);
}

namespace {

// A process that stops at an update point three frames below a method with every kind of
// frame value: arguments, a temporary shared with a block (a temp vector), a copied one,
// an inlined loop's variable and block temporary, and the loop's hidden counter and limit.
const char* kNamer = R"(
Namer = (
    run = (
        | p |
        p := [ self outer: 3 ] newProcess.
        p name: 'namer'.
        p resume.
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 1) wait ] )
    outer: n = (
        | total sum |
        total := 0. sum := 0.
        1 to: n do: [ :i | | twice | twice := i * 2. total := total + twice ].
        (Array with: 5) do: [ :e | | here | here := e. sum := sum + e. self inner: total with: here ].
        ^ sum )
    inner: a with: b = (
        | local |
        local := a + b.
        [ (system global: #Stop) isNil ] whileTrue: [ Chester updatePoint ].
        ^ local )
)
)";

}  // namespace

TEST_CASE("every value of a frame has a name: arguments, temporaries, copied values, temp vectors, hidden temps") {
  GuestFixture g({{"Namer", kNamer}});
  g.vm->startGuest("Namer", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  std::vector<mop::FrameView> frames;
  for (mop::ProcessView& p : guest.processes()) {
    if (p.name == "namer") frames = guest.frames(p.process);
  }
  REQUIRE(frames.size() >= 4);
  for (const mop::FrameView& f : frames) {
    INFO(f.description);
    CHECK(f.valueNames.size() == f.arguments.size() + f.temporaries.size());
  }
  auto has = [](const mop::FrameView& f, const std::string& name) {
    return std::find(f.valueNames.begin(), f.valueNames.end(), name) != f.valueNames.end();
  };
  CHECK(frames[0].selector == "inner:with:");
  CHECK(frames[0].valueNames == std::vector<std::string>{"a", "b", "local"});
  CHECK(frames[1].isBlock);  // [ :e | ... ] in outer:
  CHECK(frames[1].valueNames.front() == "e");
  CHECK(has(frames[1], "total"));          // a copied value
  CHECK(has(frames[1], "<vector: sum>"));  // the temp vector of outer:, copied
  CHECK(has(frames[1], "here"));
  const mop::FrameView& outer = frames.back().selector == "outer:" ? frames.back() : frames[frames.size() - 2];
  REQUIRE(outer.selector == "outer:");
  CHECK(outer.valueNames.front() == "n");
  for (const char* name : {"total", "i", "twice", "<vector: sum>", "<loop limit>"}) {
    INFO(name);
    CHECK(has(outer, name));
  }
  stopAndFinish(g);
}

TEST_CASE("processes are listed with or without a collection first; only the collection drops unreachable ones") {
  GuestFixture g({{"Worker", kWorker}});
  g.vm->startGuest("Worker", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  // A process nobody refers to, never scheduled: garbage, but not terminated.
  g.vm->evaluateInGuest("([ 1 ] newProcess) name: 'orphan'");
  auto names = [](const std::vector<mop::ProcessView>& views) {
    std::vector<std::string> out;
    for (const mop::ProcessView& v : views) out.push_back(v.name);
    return out;
  };
  auto has = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  uint64_t fullCollections = g.vm->guest().space().stats().fullCollections;
  std::vector<std::string> uncollected = names(guest.processesWithoutCollecting());
  CHECK(g.vm->guest().space().stats().fullCollections == fullCollections);
  CHECK(has(uncollected, "worker"));
  // Collecting at every allocation may have freed it already.
  if (!g.vm->guest().space().config().gcStress) CHECK(has(uncollected, "orphan"));
  std::vector<std::string> collected = names(guest.processes());
  CHECK(has(collected, "worker"));
  CHECK(!has(collected, "orphan"));
  // A process whose stack grew (its first stack stays registered until a collection) is
  // listed once.
  g.vm->evaluateInGuest(
      "| s b | s := Semaphore new. system global: #DeepWait put: s. "
      "b := nil. b := [ :n | n = 0 ifTrue: [ s wait ] ifFalse: [ 1 + (b value: n - 1) ] ]. "
      "([ b value: 3000 ] newProcess) name: 'deep'; resume");
  runAWhile(g);
  std::vector<std::string> listed = names(guest.processesWithoutCollecting());
  CHECK(std::count(listed.begin(), listed.end(), "deep") == 1);
  CHECK(std::count(listed.begin(), listed.end(), "worker") == 1);
  stopAndFinish(g);
}

TEST_CASE("a process is unwound to an earlier frame, and a loop restarts from a new method version") {
  GuestFixture g({{"Worker", kWorker}});
  g.vm->startGuest("Worker", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  WorkerParts w = findWorker(guest);

  // Unwind: step's frame is discarded and the send in compute answers -1.
  guest.unwindTo(w.process, 1, guest.integer(-1));
  verifyBoth(g);
  CHECK(guest.frames(w.process)[0].selector == "compute");
  runAWhile(g, 0);
  // compute got -1 from the discarded step (the process resumed in it), then went on.
  w = findWorker(guest);
  CHECK(*guest.integerValue(guest.slotAt(w.worker, "unwound")) == -1);
  int64_t stepsBefore = *guest.integerValue(guest.slotAt(w.worker, "steps"));

  // Restart: a new version of loop counts versions; the running loop frame restarts with it.
  Ref worker = guest.classNamed("Worker");
  Ref newLoop = guest.compileMethod(
      worker, "loop = ( version := version + 1. [ (system global: #Stop) isNil ] whileTrue: [ self compute ] )");
  guest.installMethod(worker, newLoop);
  size_t loopDepth = 0;
  std::vector<mop::FrameView> frames = guest.frames(w.process);
  while (frames[loopDepth].selector != "loop") loopDepth++;
  CHECK_FALSE(guest.same(frames[loopDepth].method, newLoop));
  guest.restartFrame(w.process, loopDepth, newLoop);
  verifyBoth(g);
  frames = guest.frames(w.process);
  CHECK(frames[0].selector == "loop");
  CHECK(guest.same(frames[0].method, newLoop));
  CHECK(frames[0].pc == 0);

  runAWhile(g, 10);
  CHECK(*guest.integerValue(guest.slotAt(w.worker, "version")) == 2);
  CHECK(*guest.integerValue(guest.slotAt(w.worker, "steps")) > stepsBefore);
  stopAndFinish(g);
  CHECK(g.output() == "version 2\n");
  CHECK(g.errors().empty());
}

TEST_CASE("a frame inserted at an update point runs first; created processes run; terminated ones stop") {
  GuestFixture g({{"Worker", kWorker}});
  g.vm->startGuest("Worker", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  WorkerParts w = findWorker(guest);

  Ref args = guest.newInstance(guest.classNamed("Array"), 1);
  g.vm->guest().space().storePointer(args.get(), 0, space::Oop::fromSmallInteger(7));
  guest.insertFrame(w.process, w.worker, "note:", args);
  verifyBoth(g);
  CHECK(guest.frames(w.process)[0].selector == "send:to:withArguments:");

  Ref list = g.vm->evaluateInGuest("^ system global: #Log put: OrderedCollection new");
  Ref addArgs = guest.newInstance(guest.classNamed("Array"), 1);
  g.vm->guest().space().storePointer(addArgs.get(), 0, guest.string("from a new process").get());
  Ref created = guest.createProcess(list, "add:", addArgs);
  CHECK(guest.viewOf(created).status == mop::ProcessStatus::Suspended);
  guest.installProcess(created);
  verifyBoth(g);

  runAWhile(g, 10);
  CHECK(*guest.integerValue(guest.slotAt(w.worker, "inserted")) == 7);
  CHECK(g.guestInteger("^ Log size") == 1);
  CHECK(guest.viewOf(created).status == mop::ProcessStatus::Terminated);

  guest.terminateProcess(w.process);
  verifyBoth(g);
  int64_t steps = *guest.integerValue(guest.slotAt(w.worker, "steps"));
  runAWhile(g, 10);
  CHECK(*guest.integerValue(guest.slotAt(w.worker, "steps")) == steps);
  CHECK(guest.viewOf(w.process).status == mop::ProcessStatus::Terminated);
  stopAndFinish(g);
  CHECK(g.errors().empty());
}

TEST_CASE("sources are searched in place: matches in class and selector order, both sides, bounded by a limit") {
  GuestFixture g({{"Finder", R"(
Finder = (
    run = ( [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 1) wait ] )
    zeta = ( ^ 'needle in zeta' )
    alpha = ( ^ 'needle in alpha' )
    other = ( ^ 'hay' )
    ----
    make = ( ^ 'needle on the class side' )
)
)"}});
  g.vm->startGuest("Finder", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  SpaceMirror guest(g.vm->guest().runtime());
  SpaceMirror::SourceSearch all = guest.searchSources("needle in", 100);
  std::vector<std::string> found;
  for (const auto& m : all.matches) found.push_back(m.className + (m.classSide ? " class>>" : ">>") + m.selector);
  CHECK(found == std::vector<std::string>{"Finder>>alpha", "Finder>>zeta"});
  CHECK(all.methodsSearched > 500);  // every method of every class, kernel included
  CHECK(all.matches[0].source == "alpha = ( ^ 'needle in alpha' )");
  SpaceMirror::SourceSearch classSide = guest.searchSources("needle on", 100);
  REQUIRE(classSide.matches.size() == 1);
  CHECK(classSide.matches[0].classSide);
  CHECK(classSide.matches[0].selector == "make");
  // One past the limit says more match, and the search stops there.
  SpaceMirror::SourceSearch bounded = guest.searchSources("^", 3);
  CHECK(bounded.matches.size() == 4);
  CHECK(bounded.methodsSearched < all.methodsSearched);
  CHECK(guest.searchSources("no method holds this text", 5).matches.empty());
  stopAndFinish(g);
}

TEST_CASE("mirror operations with wrong arguments fail precisely and change nothing") {
  GuestFixture g({{"Worker", kWorker}});
  g.vm->startGuest("Worker", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  SpaceMirror guest(g.vm->guest().runtime());
  Ref object = guest.classNamed("Object");
  // Not paused: the guest is in the middle of running.
  CHECK_THROWS_WITH_AS(guest.removeMethod(object, "printString"), doctest::Contains("pause it first"), MirrorError);
  g.pause();
  WorkerParts w = findWorker(guest);
  Ref worker = guest.classNamed("Worker");
  std::vector<std::string> selectors = guest.selectors(worker);

  CHECK_THROWS_WITH_AS(guest.classNamed("NoSuchClass"), doctest::Contains("no class named 'NoSuchClass'"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.createClass("lowercase", object, {}), doctest::Contains("not a class name"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.createClass("Twice", object, {"a", "a"}), doctest::Contains("defined twice"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.createClass("Sub", guest.integer(3), {}), doctest::Contains("not a class"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.compileMethod(worker, "broken = ( ^ 3 + )"), doctest::Contains("compileMethod"),
                       MirrorError);
  CHECK_THROWS_WITH_AS(guest.installMethod(worker, guest.integer(3)), doctest::Contains("not a compiled method"),
                       MirrorError);
  CHECK_THROWS_WITH_AS(guest.removeMethod(worker, "noSuchSelector"), doctest::Contains("has no method #noSuchSelector"),
                       MirrorError);
  CHECK_THROWS_WITH_AS(guest.setClass(w.worker, guest.classNamed("Point")), doctest::Contains("shape"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.setClass(guest.integer(3), worker), doctest::Contains("immediate"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.slotAt(w.worker, "nope"), doctest::Contains("no field named 'nope'"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.slotAt(w.worker, 99), doctest::Contains("fields, not 99"), MirrorError);
  Ref two = guest.newInstance(guest.classNamed("Array"), 2), three = guest.newInstance(guest.classNamed("Array"), 3);
  CHECK_THROWS_WITH_AS(guest.swapIdentities(two, three), doctest::Contains("differ in size"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.swapIdentities(guest.nil(), w.worker), doctest::Contains("VM depends on"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.unwindTo(w.process, 0, guest.nil()), doctest::Contains("already the current frame"),
                       MirrorError);
  CHECK_THROWS_WITH_AS(guest.unwindTo(w.process, 500, guest.nil()), doctest::Contains("there is no frame 500"),
                       MirrorError);
  CHECK_THROWS_WITH_AS(guest.restartFrame(w.process, 0, guest.compileMethod(worker, "loop = ( ^ 1 )")),
                       doctest::Contains("the new method is #loop"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.insertFrame(w.process, w.worker, "noSuchSelector", guest.nil()),
                       doctest::Contains("does not understand #noSuchSelector"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.createProcess(w.worker, "note:", guest.nil()), doctest::Contains("takes 1 arguments"),
                       MirrorError);
  CHECK_THROWS_WITH_AS(guest.specialObject("NoSuchThing"), doctest::Contains("no special object"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.setSpecialObject("ClassSmallInteger", guest.integer(3)),
                       doctest::Contains("must be a class"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.setSpecialObject("ClassSmallInteger", worker), doctest::Contains("instance layout"),
                       MirrorError);
  CHECK_THROWS_WITH_AS(guest.setSpecialObject("nil", worker), doctest::Contains("cannot be replaced"), MirrorError);
  CHECK_THROWS_WITH_AS(guest.removeClass("Integer"), doctest::Contains("special object"), MirrorError);
  // Objects of the hypervisor cannot be given to the guest's mirror.
  SpaceMirror hyper(g.vm->hypervisor().runtime());
  CHECK_THROWS_WITH_AS(guest.installMethod(worker, hyper.integer(1)), doctest::Contains("another space"), MirrorError);

  CHECK(guest.selectors(worker) == selectors);
  CHECK(guest.frames(w.process)[0].selector == "step");
  verifyBoth(g);
  stopAndFinish(g);
  CHECK(g.output() == "version 1\n");
}
