// Rolling a live guest back: a RuntimeCheckpoint taken while the guest is paused undoes
// every change made through mirrors and by guest code — classes, methods, globals,
// instances, identities, processes, timers — as the heap digest (an address-independent
// walk of everything reachable) and the heap verifier show; the guest then runs on as if
// nothing had happened.
#include "mop/SpaceMirror.h"
#include "space/HeapVerifier.h"
#include "tests/unit/hypervisor/GuestFixture.h"
#include "tests/unit/hypervisor/Workers.h"
#include "vm/ClassBuilder.h"
#include "vm/HeapDigest.h"
#include "vm/RuntimeCheckpoint.h"

using hypervisor::test::GuestFixture;
using hypervisor::test::kWorkers;
using mop::Ref;
using mop::SpaceMirror;

namespace {

void requireVerified(GuestFixture& g) {
  space::VerificationReport r = space::verifyHeap(g.vm->guest().space());
  INFO(r.summary());
  REQUIRE(r.ok());
}

}  // namespace

TEST_CASE("the heap digest is independent of addresses and sees every change") {
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  g.pause();
  vm::Runtime& rt = g.vm->guest().runtime();
  vm::HeapDigest before = vm::digestOf(rt);
  CHECK(before.objects > 1000);
  CHECK(before.sha256.size() == 64);
  // Collections move objects; the digest stays.
  rt.space().scavenge();
  rt.space().collectGarbage();
  CHECK(vm::digestOf(rt) == before);
  // A change anywhere reachable shows.
  g.vm->evaluateInGuest("(system global: #Points) at: 1 put: nil");
  vm::HeapDigest after = vm::digestOf(rt);
  CHECK(!(after == before));
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}

TEST_CASE("a rollback undoes mirror changes and guest code exactly") {
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(20));
  g.pause();
  vm::Runtime& rt = g.vm->guest().runtime();
  SpaceMirror m(rt);
  int64_t good = g.guestInteger("^ system global: #Good");
  vm::HeapDigest before = vm::digestOf(rt);
  {
    vm::RuntimeCheckpoint cp(rt);
    rt.classes().beginBatch();
    // Code: do: leaves SequenceableCollection, a new class with a method appears.
    Ref seq = m.classNamed("SequenceableCollection");
    m.removeMethod(seq, "do:");
    Ref cls = m.createClass("Temporary", m.classNamed("Object"), {"a", "b"});
    m.installClass(cls);
    m.installMethod(cls, m.compileMethod(cls, "sum = ( ^ a + b )"));
    // Instances: two Points swap identities; a fresh instance is made.
    Ref points = m.allInstances(m.classNamed("Point"));
    REQUIRE(m.sizeOf(points) >= 50);
    m.swapIdentities(m.at(points, 1), m.at(points, 2));
    Ref fresh = m.newInstance(cls);
    m.slotAtPut(fresh, "a", m.integer(5));
    // Guest code: allocation (scavenges included), a new process, a pending timer.
    g.vm->evaluateInGuest(
        "| junk | junk := OrderedCollection new. 1 to: 20000 do: [ :i | junk add: (Array new: 10) ]."
        "system global: #Junk put: junk. system global: #Good put: -1."
        "[ (Delay forSeconds: 100) wait ] fork. Processor yield");
    rt.classes().endBatch();
    CHECK(g.guestInteger("^ system global: #Good") == -1);
    CHECK(cp.spaceCheckpoint().pagesSaved() > 0);
    cp.rollback();
  }
  CHECK(vm::digestOf(rt) == before);
  requireVerified(g);
  CHECK(g.guestInteger("^ system global: #Good") == good);
  CHECK(g.guestInteger("^ (system global: #Temporary) isNil ifTrue: [ 1 ] ifFalse: [ 0 ]") == 1);
  // The guest runs on, with do: where it was, and nothing went wrong.
  g.vm->resumeGuest();
  g.vm->runGuestFor(std::chrono::milliseconds(30));
  g.pause();
  CHECK(g.guestInteger("^ system global: #Good") > good);
  CHECK(g.guestInteger("^ system global: #Bad") == 0);
  requireVerified(g);
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
  CHECK(g.output() == "bad: 0\n");
}

TEST_CASE("a committed checkpoint keeps the changes, and the next one starts from them") {
  GuestFixture g({{"Workers", kWorkers}});
  g.vm->startGuest("Workers", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  g.pause();
  vm::Runtime& rt = g.vm->guest().runtime();
  {
    vm::RuntimeCheckpoint cp(rt);
    g.vm->evaluateInGuest("system global: #Kept put: 42");
    cp.commit();
  }
  CHECK(g.guestInteger("^ system global: #Kept") == 42);
  vm::HeapDigest committed = vm::digestOf(rt);
  {
    vm::RuntimeCheckpoint cp(rt);
    g.vm->evaluateInGuest("system global: #Kept put: 43");
    cp.rollback();
  }
  CHECK(vm::digestOf(rt) == committed);
  CHECK(g.guestInteger("^ system global: #Kept") == 42);
  requireVerified(g);
  g.vm->evaluateInGuest("system global: #Stop put: true");
  g.vm->resumeGuest();
  CHECK(g.vm->finishGuest().kind == vm::ProgramOutcome::Kind::Finished);
}
