// The mirror classes of the hypervisor space (mop/smalltalk): the same MOP, driven by
// Smalltalk code running in the hypervisor against a busy guest.
#include "mop/SpaceMirror.h"
#include "space/HeapVerifier.h"
#include "tests/unit/hypervisor/GuestFixture.h"

using hypervisor::test::GuestFixture;

namespace {

std::string hvString(GuestFixture& g, const std::string& source) {
  space::Handle h = g.vm->evaluateInHypervisor(source);
  REQUIRE(vm::isString(g.vm->hypervisor().runtime(), h.get()));
  return std::string(vm::bytesOf(h.get()));
}

const char* kLooper = R"(
Looper = (
    run = (
        | p |
        system global: #Bad put: 0.
        p := [ [ (system global: #Stop) isNil ] whileTrue: [
                    | sum | sum := 0.
                    #(1 2 3 4) do: [ :x | sum := sum + x ].
                    sum = 10 ifFalse: [ system global: #Bad put: (system global: #Bad) + 1 ].
                    Chester updatePoint ] ] newProcess.
        p name: 'looper'.
        p resume.
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 1) wait ].
        ('bad ' + (system global: #Bad) asString) println )
)
)";

void finish(GuestFixture& g) {
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

}  // namespace

TEST_CASE("hypervisor Smalltalk moves do: from SequenceableCollection to Object through mirrors") {
  GuestFixture g({{"Looper", kLooper}});
  g.vm->startGuest("Looper", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  std::string result = hvString(g, R"(
    | seq object source problems sum |
    seq := Guest classNamed: 'SequenceableCollection'.
    object := Guest classNamed: 'Object'.
    source := (seq methodAt: #do:) source.
    seq removeSelector: #do:.
    "The guest has no do: for Arrays now; the hypervisor's own do: is unaffected."
    sum := 0.
    #(1 2 3) do: [ :x | sum := sum + x ].
    problems := Guest verify.
    object install: (object compile: source).
    ^ (seq includesSelector: #do:) asString + ' ' + (object includesSelector: #do:) asString + ' ' +
      problems size asString + ' ' + sum asString )");
  CHECK(result == "false true 0 6");
  g.vm->resumeGuest();
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  finish(g);
  CHECK(g.output() == "bad 0\n");
}

TEST_CASE("hypervisor Smalltalk reads frames, migrates instances and gets MirrorErrors") {
  GuestFixture g({{"Looper", kLooper}, {"Shapes", R"(
Shapes = (
    run = (
        | points |
        points := Array new: 1000.
        1 to: 1000 do: [ :i | points at: i put: (Point x: i y: i) ].
        system global: #Points put: points.
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 1) wait ] )
)
)"}});
  g.vm->startGuest("Looper", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  // Frames of the looper, as the hypervisor sees them.
  std::string frames = hvString(g, R"(
    | looper |
    Guest processes do: [ :p | p name = 'looper' ifTrue: [ looper := p ] ].
    ^ looper status asString + ' ' + (looper frames at: 1) selector + ' ' + (looper frames at: 1) receiver describe )");
  CHECK(frames.find("paused") == 0);
  CHECK(frames.find("[] in Looper") == std::string::npos);  // the receiver is described, not the frame
  // A refused operation is a MirrorError in the hypervisor, and the guest is unchanged.
  std::string error = hvString(g, R"(
    ^ [ (Guest classNamed: 'Object') removeSelector: #noSuchThing. 'no error' ]
        on: MirrorError do: [ :e | e messageText ] )");
  CHECK(error.find("has no method #noSuchThing") != std::string::npos);
  std::string crossing = hvString(g, R"(
    ^ [ (Guest classNamed: 'Object') install: Object new. 'no error' ]
        on: MirrorError do: [ :e | e messageText ] )");
  CHECK(crossing.find("cannot enter the guest") != std::string::npos);
  // Instance migration, written in Smalltalk: Point(x,y) -> Point(x,y,z).
  g.vm->evaluateInGuest(
      "| points | points := Array new: 1000. 1 to: 1000 do: [ :i | points at: i put: (Point x: i y: i) ]. system "
      "global: #Points put: points");
  std::string migrated = hvString(g, R"(
    | old new olds news oldArray |
    old := Guest classNamed: 'Point'.
    new := Guest createClass: 'Point' superclass: old superclass instanceVariables: #('x' 'y' 'z').
    old selectors do: [ :s | new install: (new compile: (old methodAt: s) source) ].
    old classSide selectors do: [ :s | new classSide install: (new classSide compile: (old classSide methodAt: s) source) ].
    new compileAndInstall: 'z = ( ^ z )'.
    olds := old allInstances.
    news := Array new: olds size.
    1 to: olds size do: [ :i |
        | p q |
        p := olds at: i.
        q := new new.
        q instVarNamed: 'x' put: (p instVarNamed: 'x').
        q instVarNamed: 'y' put: (p instVarNamed: 'y').
        q instVarNamed: 'z' put: 0.
        news at: i put: q ].
    oldArray := Array new: olds size.
    1 to: olds size do: [ :i | oldArray at: i put: (olds at: i) ].
    Guest swapAll: oldArray with: news.
    new install.
    ^ olds size asString + ' ' + (Guest evaluate: '^ (Points at: 10) z') asString + ' ' +
      (Guest evaluate: '^ (Points at: 10) x') asString + ' ' + Guest verify size asString )");
  CHECK(migrated == "1000 0 10 0");
  CHECK(space::verifyHeap(g.vm->guest().space()).ok());
  CHECK(space::verifyHeap(g.vm->hypervisor().space()).ok());
  finish(g);
}

TEST_CASE("guest handles held by mirrors are released when the mirrors die") {
  GuestFixture g({{"Looper", kLooper}});
  g.vm->startGuest("Looper", {});
  g.vm->runGuestFor(std::chrono::milliseconds(5));
  g.pause();
  size_t before = g.vm->mirrors().liveHandles();
  size_t guestHandlesBefore = g.vm->guest().space().handles().liveCount();
  g.vm->evaluateInHypervisor(
      "| kept | kept := Array new: 1000. 1 to: 1000 do: [ :i | kept at: i put: (Guest classNamed: 'Object') ]. "
      "system global: #Kept put: kept");
  g.vm->hypervisor().space().collectGarbage();
  CHECK(g.vm->mirrors().liveHandles() == before + 1000);
  CHECK(g.vm->guest().space().handles().liveCount() == guestHandlesBefore + 1000);
  g.vm->evaluateInHypervisor("system global: #Kept put: nil");
  g.vm->hypervisor().space().collectGarbage();
  CHECK(g.vm->mirrors().liveHandles() == before);
  CHECK(g.vm->guest().space().handles().liveCount() == guestHandlesBefore);
  finish(g);
}
