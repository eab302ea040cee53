// The catalogue (updates/): every script is valid against updates/schema (checked by
// tests/integration/test_update_schema.py) and does what it says to a busy guest —
// worker processes using collections, exceptions, doubles and points all the time and
// counting wrong answers, an HTTP server's accept loop, a process to unwind — in the
// order of the catalogue, each update on the guest the previous ones left. The failing
// ones are rolled back exactly (the heap digest before and after is the same).
#include <fstream>
#include <sstream>

#include "chester/Updater.h"
#include "hypervisor/VmGuestHost.h"
#include "space/HeapVerifier.h"
#include "tests/unit/hypervisor/GuestFixture.h"
#include "vm/ClassLoader.h"
#include "vm/HeapDigest.h"

using chester::Outcome;
using chester::UpdateRecord;
using hypervisor::test::GuestFixture;

namespace {

const char* kBusy = R"S(
Busy = (
    run = (
        | server |
        system global: #Wrong put: 0.
        system global: #Rounds put: 0.
        server := HttpServer port: 0 handler: [ :request | HttpResponse new status: 200; body: 'ok'; yourself ].
        server startInBackground.
        system global: #Server put: server.
        [ self work ] fork.
        [ self work ] fork.
        [ Probe new outer ] fork.
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 2) wait ] )
    check: aBoolean = ( aBoolean ifFalse: [ system global: #Wrong put: (system global: #Wrong) + 1 ] )
    work = (
        | d set oc v sum p |
        [ (system global: #Stop) isNil ] whileTrue: [
            sum := 0. #(1 2 3 4) do: [ :e | sum := sum + e ]. self check: sum = 10.
            d := Dictionary new. 1 to: 50 do: [ :i | d at: 'k' + i asString put: i ].
            self check: (d at: 'k17') = 17.
            set := Set new. #('a' 'b' 'a') do: [ :e | set add: e ]. self check: set size = 2.
            oc := OrderedCollection new. oc addAll: #(1 2 3). self check: oc size = 3.
            v := Vector new. v addAll: #(4 5). self check: v size = 2.
            self check: ([ 1 / 0 ] on: ZeroDivide do: [ :e | e return: 5 ]) = 5.
            self check: (0.5 + 0.25) = 0.75.
            p := Point x: 3 y: 4. self check: p x + p y = 7.
            system global: #Rounds put: (system global: #Rounds) + 1.
            Chester updatePoint ] )
)
)S";

const char* kProbe = R"S(
Probe = (
    outer = (
        | r |
        r := self inner.
        system global: #Unwound put: r.
        [ (system global: #Stop) isNil ] whileTrue: [ (Delay forMilliseconds: 5) wait ] )
    inner = ( [ (system global: #Stop) isNil ] whileTrue: [ Chester updatePoint. (Delay forMilliseconds: 1) wait ] )
)
)S";

std::string readCatalogue(const std::string& name) {
  std::ifstream in(std::string(ESPELL_SOURCE_ROOT) + "/updates/" + name);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Catalogue {
  GuestFixture g{{std::pair<const std::string, std::string>{"Busy", kBusy}, {"Probe", kProbe}}};
  hypervisor::VmGuestHost host{*g.vm};
  chester::Updater updater{host, options()};

  static chester::UpdaterOptions options() {
    chester::UpdaterOptions o;
    o.verifyHeap = true;
    o.applyDeadline = std::chrono::milliseconds(500);
    return o;
  }
  Catalogue() {
    g.vm->guest().runtime().loader().prependToClassPath(std::string(ESPELL_SOURCE_ROOT) + "/lib/Http");
    g.vm->startGuest("Busy", {});
    g.vm->runGuestFor(std::chrono::milliseconds(50));
  }
  int64_t value(const std::string& expression) {
    g.pause();
    int64_t v = g.guestInteger(expression);
    g.vm->resumeGuest();
    return v;
  }
  UpdateRecord apply(const std::string& name) {
    UpdateRecord r = updater.apply(chester::ScriptText{name, readCatalogue(name)});
    g.vm->runGuestFor(std::chrono::milliseconds(30));
    return r;
  }
  void requireBusyAndRight() {
    int64_t rounds = value("^ system global: #Rounds");
    g.vm->runGuestFor(std::chrono::milliseconds(30));
    CHECK(value("^ system global: #Rounds") > rounds);
    CHECK(value("^ system global: #Wrong") == 0);
  }
};

}  // namespace

TEST_CASE("the catalogue of updates applies to a busy guest, in order") {
  Catalogue c;
  c.requireBusyAndRight();
  for (const char* name :
       {"01-do-up-to-Object.json", "02-string-hash-and-rehash.json",
        "03-common-superclass-for-growable-collections.json", "04-BoxedDouble.som", "05-SmallInteger-asPoint.som",
        "06-Point3D.json", "07a-exception-classification.json", "07b-Block-memoized.som", "07c-Double-debugging.json",
        "08a-restart-accept-loop.json", "08b-unwind-to-earlier-frame.json"}) {
    CAPTURE(name);
    UpdateRecord r = c.apply(name);
    INFO(r.describe());
    INFO(c.g.errors());
    CHECK(r.outcome == Outcome::Committed);
    MESSAGE(name << ": guest paused " << r.timings.guestPause << " us (apply " << r.timings.apply << " us)");
    c.requireBusyAndRight();
  }
  CHECK(c.value("^ system global: #AcceptLoopVersion") == 2);
  CHECK(c.value("^ system global: #Unwound") == 42);
  CHECK(c.value("^ 5 asPoint x") == 5);
  CHECK(c.value("^ (Point x: 1 y: 2) z isNil ifTrue: [ 1 ] ifFalse: [ 0 ]") == 1);

  for (const char* name : {"09a-fails-in-the-middle.json", "09b-fails-verification.json", "09c-fails-in-Smalltalk.som",
                           "09d-fails-with-MirrorError.som", "09e-fails-by-deadline.json"}) {
    CAPTURE(name);
    c.g.pause();
    vm::HeapDigest before = vm::digestOf(c.g.vm->guest().runtime());
    UpdateRecord r = c.updater.apply(chester::ScriptText{name, readCatalogue(name)});
    INFO(r.describe());
    CHECK(r.outcome == Outcome::RolledBack);
    CHECK(r.timings.rollback > 0);
    vm::HeapDigest after = vm::digestOf(c.g.vm->guest().runtime());
    CHECK(after.sha256 == before.sha256);
    space::VerificationReport report = space::verifyHeap(c.g.vm->guest().space());
    CHECK(report.ok());
    c.g.vm->resumeGuest();
    c.requireBusyAndRight();
  }
  // 09a, 09c and 09d each installed HttpServer>>connections answering -1 before failing.
  CHECK(c.value("^ (system global: #Server) connections") >= 0);
}
