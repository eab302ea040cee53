// The update engine against a live guest: scripts refused before any pause, JSON and
// Smalltalk updates committed, and every kind of failure rolled back exactly — the heap
// digest (an address-independent walk of everything reachable in the guest) is the same
// before and after, the heap verifier finds nothing, and the guest's workers go on
// computing right answers.
#include <fstream>
#include <set>

#include "chester/Updater.h"
#include "hypervisor/VmGuestHost.h"
#include "space/HeapVerifier.h"
#include "tests/unit/hypervisor/GuestFixture.h"
#include "tests/unit/hypervisor/Workers.h"
#include "vm/ClassBuilder.h"
#include "vm/HeapDigest.h"

using chester::Outcome;
using chester::ScriptText;
using chester::UpdateRecord;
using hypervisor::test::GuestFixture;
using hypervisor::test::kWorkers;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

struct Engine {
  GuestFixture g;
  hypervisor::VmGuestHost host{*g.vm};
  chester::Updater updater;

  explicit Engine(chester::UpdaterOptions options = testOptions(),
                  const std::function<void(hypervisor::VmConfig&)>& configure = {})
      : g({{"Workers", kWorkers}}, configure), updater(host, options) {
    g.vm->startGuest("Workers", {});
    g.vm->runGuestFor(std::chrono::milliseconds(30));
  }
  static chester::UpdaterOptions testOptions() {
    chester::UpdaterOptions o;
    o.verifyHeap = true;
    o.applyDeadline = std::chrono::milliseconds(500);
    return o;
  }
  UpdateRecord apply(const std::string& name, const std::string& text) {
    UpdateRecord r = updater.apply(ScriptText{name, text});
    INFO(r.describe());
    g.vm->runGuestFor(std::chrono::milliseconds(20));
    return r;
  }
  vm::HeapDigest digest() {
    g.pause();
    vm::HeapDigest d = vm::digestOf(g.vm->guest().runtime());
    g.vm->resumeGuest();
    return d;
  }
  int64_t guestInteger(const std::string& expression) {
    g.pause();
    int64_t v = g.guestInteger(expression);
    g.vm->resumeGuest();
    return v;
  }
  void requireHealthy() {
    g.pause();
    space::VerificationReport r = space::verifyHeap(g.vm->guest().space());
    INFO(r.summary());
    REQUIRE(r.ok());
    int64_t good = g.guestInteger("^ system global: #Good");
    CHECK(g.guestInteger("^ system global: #Bad") == 0);
    g.vm->resumeGuest();
    g.vm->runGuestFor(std::chrono::milliseconds(30));
    CHECK(guestInteger("^ system global: #Good") > good);  // the workers go on
  }
};

// A one-step update (Workers>>answer answers 0) checked by `verify`, the JSON text of its
// verify expressions ("\"3 > 2\", \"true\"").
std::string answerZeroVerifying(const std::string& verify) {
  return R"S({"espellUpdate": 1, "steps": [{"op": "addMethod", "class": "Workers", "source": "answer = ( ^ 0 )"}],
              "verify": [)S" +
         verify + "]}";
}

// A failing update leaves the guest exactly as it was.
void requireRolledBack(Engine& e, const std::string& name, const std::string& text, const std::string& failedStep) {
  // The workers' counters change all the time: compare with them stopped at a pause.
  e.g.pause();
  vm::HeapDigest before = vm::digestOf(e.g.vm->guest().runtime());
  chester::UpdateRecord r = e.updater.apply(ScriptText{name, text});
  INFO(r.describe());
  CHECK(r.outcome == Outcome::RolledBack);
  CHECK(r.failedStep.find(failedStep) != std::string::npos);
  CHECK(!r.error.empty());
  REQUIRE(e.g.vm->guestPaused());  // the update leaves a guest its caller paused paused
  vm::HeapDigest after = vm::digestOf(e.g.vm->guest().runtime());
  CHECK(after.objects == before.objects);
  CHECK(after.sha256 == before.sha256);
  e.g.vm->resumeGuest();
  e.requireHealthy();
}

}  // namespace

TEST_CASE("scripts that are not sound are refused before the guest is paused") {
  Engine e;
  struct Case {
    const char* text;
    const char* where;
    const char* what;
  };
  const Case cases[] = {
      {"{\"espellUpdate\": 1,\n \"steps\": [ {\"op\": \"addMethod\",, } ]}", "line 2, column 32", "not valid JSON"},
      {R"S({"espellUpdate": 1e400, "steps": []})S", "", "number overflow"},  // beyond a double's range
      {R"S({"espellUpdate": 2, "steps": []})S", "espellUpdate", "version 1"},
      {R"S({"espellUpdate": 1, "steps": [ {"op": "addMethod", "class": "Workers"} ]})S", "steps[0]",
       "needs \"source\""},
      {R"S({"espellUpdate": 1, "steps": [ {"op": "frobnicate"} ]})S", "steps[0].op", "unknown operation"},
      {R"S({"espellUpdate": 1, "steps": [ {"op": "addMethod", "class": "Workers", "sourc": "x = ( ^ 1 )"} ]})S",
       "steps[0].sourc", "is not a field"},
      {R"S({"espellUpdate": 1, "steps": [ {"op": "addMethod", "class": "Workers", "source": "x = (\n ^ 1 + )"} ]})S",
       "steps[0].source, line 2", ""},
      {R"S({"espellUpdate": 1, "steps": [ {"op": "redefineClass", "class": "Point", "migrate": {"z": {"frm": "x"}}} ]})S",
       "steps[0].migrate.z", "unknown source"},
  };
  for (const Case& c : cases) {
    UpdateRecord r = e.updater.apply(ScriptText{"bad.json", c.text});
    INFO(c.text);
    INFO(r.describe());
    CHECK(r.outcome == Outcome::Refused);
    CHECK(r.failedStep.find(c.where) != std::string::npos);
    CHECK(r.error.find(c.what) != std::string::npos);
    CHECK(r.timings.pause == 0);
    CHECK(r.timings.guestPause == 0);
  }
  UpdateRecord r = e.updater.apply(ScriptText{"Broken.som", "Broken = (\n  apply: guest = ( ^ guest + )\n)"});
  CHECK(r.outcome == Outcome::Refused);
  CHECK(r.failedStep == "line 2, column 30");  // the ")" where an argument was expected
  r = e.updater.apply(ScriptText{"NoApply.som", "NoApply = ( foo = ( ^ 1 ) )"});
  CHECK(r.outcome == Outcome::Refused);
  CHECK(r.error.find("apply:") != std::string::npos);
  CHECK(e.updater.records().size() == std::size(cases) + 2);
  e.requireHealthy();
}

TEST_CASE("a JSON update is applied in one pause, verified and committed") {
  Engine e;
  UpdateRecord r = e.apply("answer.json", R"S({
    "espellUpdate": 1,
    "description": "the answer is 42; Workers learn to double",
    "steps": [
      {"op": "addMethod", "class": "Workers", "source": "answer = ( ^ 42 )"},
      {"op": "addMethod", "class": "Workers", "side": "class", "source": "double: n = ( ^ n * 2 )"},
      {"op": "defineClass", "name": "Greeter", "superclass": "Object", "instanceVariables": ["name"],
       "methods": ["name: aString = ( name := aString )", "greet = ( ^ 'hello ', name )"]},
      {"op": "evaluate", "source": "system global: #Greeting put: ((Greeter new name: 'guest') greet)"}
    ],
    "verify": ["Workers new answer = 42", "(Workers double: 21) = 42", "(system global: #Greeting) = 'hello guest'",
               "'a^b' size = 3"]
  })S");
  CHECK(r.outcome == Outcome::Committed);
  CHECK(r.methodsChanged >= 4);
  CHECK(r.classesChanged >= 1);
  CHECK(r.timings.guestPause > 0);
  CHECK(r.timings.guestPause < r.timings.total);
  CHECK(r.timings.guestPauseCpu > 0);
  CHECK(r.timings.guestPauseCpu <= r.timings.guestPause + 1000);  // two clocks, read a moment apart
  CHECK(r.sha256.size() == 64);
  CHECK(e.guestInteger("^ Workers new answer") == 42);
  CHECK(e.updater.committed() == 1);
  e.requireHealthy();
}

TEST_CASE("do: moves from SequenceableCollection up to Object and back while workers use it") {
  Engine e;
  const std::string holder = "SequenceableCollection";
  std::string up = R"S({"espellUpdate": 1, "steps": [
      {"op": "moveMethod", "selector": "do:", "from": ")S" +
                   holder + R"S(", "to": "Object"}],
    "verify": ["(Object canUnderstand: #do:)", "((1 to: 3) inject: 0 into: [ :a :b | a + b ]) = 6"]})S";
  vm::ClassBuilder& classes = e.g.vm->guest().runtime().classes();
  size_t taken = classes.preparedTaken();
  UpdateRecord r = e.apply("do-up.json", up);
  CHECK(r.outcome == Outcome::Committed);
  // The moved method and the verify evaluation were parsed and generated before the
  // pause, and the pause took that code; nothing prepared outlives the update.
  CHECK(classes.preparedTaken() == taken + 2);
  CHECK(classes.preparedCount() == 0);
  e.requireHealthy();
  std::string down = R"S({"espellUpdate": 1, "steps": [
      {"op": "moveMethod", "selector": "do:", "from": "Object", "to": ")S" +
                     holder + R"S("}]})S";
  r = e.apply("do-down.json", down);
  CHECK(r.outcome == Outcome::Committed);
  e.requireHealthy();
}

TEST_CASE(
    "a lazy sweep left running ends in steps the guest is served between, before the update's census and arming") {
  Engine e(Engine::testOptions(), GuestFixture::sweepLazily);
  space::Space& s = e.g.vm->guest().space();
  // The arming's path (a method update), then the census's (a rehash).
  for (std::string script : {answerZeroVerifying("\"Workers new answer = 0\""),
                             std::string(R"S({"espellUpdate": 1, "steps": [{"op": "rehash", "class": "Set"}]})S")}) {
    e.g.leaveLazySweep();
    space::GcStats before = s.stats();
    UpdateRecord r = e.apply("sweeping.json", script);
    CHECK(r.outcome == Outcome::Committed);
    // Ended by steps, never at once. (A GC stress build collects at every allocation the
    // guest makes between the steps, each collection leaving a sweep of its own.)
    if (!s.config().gcStress) {
      CHECK_FALSE(s.sweeping());
      CHECK(s.stats().lazySweeps == before.lazySweeps + 1);
      CHECK(s.stats().lazySweepsFinishedAtOnce == before.lazySweepsFinishedAtOnce);
    }
  }
  CHECK(e.guestInteger("^ (system global: #Kept) size") == 16);
  e.requireHealthy();
}

TEST_CASE("a Smalltalk update script works through mirrors in the hypervisor space") {
  Engine e;
  vm::ClassBuilder& classes = e.g.vm->guest().runtime().classes();
  vm::ClassBuilder& hypervisorClasses = e.g.vm->hypervisor().runtime().classes();
  size_t taken = classes.preparedTaken(), hypervisorTaken = hypervisorClasses.preparedTaken();
  UpdateRecord r = e.apply("AnswerFix.som", R"S(
AnswerFix = (
    description = ( ^ 'Workers>>answer answers 42' )
    apply: guest = (
        | workers |
        workers := guest classNamed: 'Workers'.
        workers compileAndInstall: 'answer = ( ^ 6 * 7 )' )
    verify: guest = ( ^ (guest evaluate: '^ Workers new answer') = 42 )
)
)S");
  CHECK(r.outcome == Outcome::Committed);
  CHECK(r.form == "smalltalk");
  CHECK(r.description == "Workers>>answer answers 42");
  // Its literals named the class, the method and the evaluation: compiled before the pause.
  CHECK(classes.preparedTaken() == taken + 2);
  // So were the hypervisor statements that send it apply: and verify:.
  CHECK(hypervisorClasses.preparedTaken() == hypervisorTaken + 2);
  CHECK(hypervisorClasses.preparedCount() == 0);
  // The guest was served between loading the class, reading its description, arming and
  // preparing: no stretch held it as long as all of them.
  CHECK(r.timings.heldBefore > 0);
  CHECK(r.timings.heldBefore < r.timings.validate + r.timings.arm);
  CHECK(e.guestInteger("^ Workers new answer") == 42);
  e.requireHealthy();
}

TEST_CASE("every kind of failing update is rolled back exactly") {
  Engine e;
  SUBCASE("a step in the middle fails") {
    requireRolledBack(e, "middle.json", R"S({"espellUpdate": 1, "steps": [
        {"op": "addMethod", "class": "Workers", "source": "answer = ( ^ 0 )"},
        {"op": "defineClass", "name": "Extra", "superclass": "Object", "instanceVariables": ["a"]},
        {"op": "evaluate", "source": "system global: #Good put: -1000"},
        {"op": "removeMethod", "class": "Workers", "selector": "noSuchMethod"},
        {"op": "addMethod", "class": "Workers", "source": "loop = ( ^ self )"}]})S",
                      "steps[3] (removeMethod)");
  }
  SUBCASE("a verification answers false") {
    requireRolledBack(e, "verify.json", answerZeroVerifying(R"("Workers new answer = 0", "Workers new answer = 41")"),
                      "verify[1]");
  }
  SUBCASE("a verification fails after the update allocated past the room the checkpoint made for it") {
    // 3 MiB of large Arrays: the first come from the bump area above the tracked pages,
    // the rest from free lists and a new segment.
    requireRolledBack(e, "large.json", R"S({"espellUpdate": 1,
        "steps": [{"op": "addMethod", "class": "Workers", "source": "answer = ( ^ 0 )"},
                  {"op": "evaluate",
                   "source": "system global: #Large put: ((1 to: 40) collect: [ :i | Array new: 10000 withAll: i ])"}],
        "verify": ["((system global: #Large) at: 40) last = 40", "Workers new answer = 1"]})S",
                      "verify[1]");
  }
  SUBCASE("an error in a Smalltalk script") {
    requireRolledBack(e, "Failing.som", R"S(
Failing = (
    apply: guest = (
        (guest classNamed: 'Workers') compileAndInstall: 'answer = ( ^ 0 )'.
        (guest classNamed: 'Workers') removeSelector: #loop.
        nil foo ) )
)S",
                      "Failing>>apply:");
  }
  SUBCASE("a MirrorError in a Smalltalk script") {
    requireRolledBack(e, "Mirror.som", R"S(
Mirror2 = (
    apply: guest = (
        (guest classNamed: 'Workers') compileAndInstall: 'answer = ( ^ 0 )'.
        guest createClass: 'not a name' superclass: (guest classNamed: 'Object') instanceVariables: #() ) )
)S",
                      "Mirror2>>apply:");
  }
  SUBCASE("a guest evaluation past the apply deadline") {
    requireRolledBack(e, "loop.json", R"S({"espellUpdate": 1, "steps": [
        {"op": "addMethod", "class": "Workers", "source": "answer = ( ^ 0 )"},
        {"op": "evaluate", "source": "[ true ] whileTrue: [ ]"}]})S",
                      "steps[1] (evaluate)");
  }
  SUBCASE("a verify expression that is an error") {
    requireRolledBack(e, "error.json", R"S({"espellUpdate": 1,
        "steps": [{"op": "redefineClass", "class": "Point", "instanceVariables": ["x", "y", "z"],
                   "migrate": {"z": {"value": "0"}}, "methods": ["z = ( ^ z )"]}],
        "verify": ["(Point x: 1 y: 2) z isNil", "nil foo"]})S",
                      "verify[1]");
  }
  SUBCASE("no frame to restart") {
    requireRolledBack(e, "restart.json", R"S({"espellUpdate": 1, "steps": [
        {"op": "addMethod", "class": "Workers", "source": "answer = ( ^ 0 )"},
        {"op": "restartFrames", "selector": "noSuchLoop"}]})S",
                      "steps[1] (restartFrames)");
  }
}

TEST_CASE("a pause that misses its deadline changes nothing and names who did not arrive") {
  GuestFixture g({{"Looper", R"S(
Looper = (
    run = ( | x | x := 0. [ x < 4000000000 ] whileTrue: [ x := x + 1 ]. 'done' println )
)
)S"}});
  hypervisor::VmGuestHost host(*g.vm);
  chester::UpdaterOptions o;
  o.pauseDeadline = std::chrono::milliseconds(30);
  chester::Updater updater(host, o);
  g.vm->startGuest("Looper", {});
  g.vm->runGuestFor(std::chrono::milliseconds(10));
  UpdateRecord r = updater.apply(ScriptText{"any.json", R"S({"espellUpdate": 1, "steps": [
      {"op": "addMethod", "class": "Looper", "source": "answer = ( ^ 1 )"}]})S"});
  INFO(r.describe());
  CHECK(r.outcome == Outcome::TimedOut);
  CHECK(r.failedStep == "pause");
  CHECK(r.notArrived.find("Looper>>run") != std::string::npos);
  CHECK(r.timings.pause >= 30000);
  CHECK(r.timings.apply == 0);
}

TEST_CASE("instances migrate to a new class version with a slot mapping") {
  Engine e;
  e.g.pause();
  e.g.vm->evaluateInGuest(
      "system global: #P put: (Point x: 3 y: 4). system global: #Ps put: ((1 to: 1000) collect: [ :i | Point x: i y: 2 "
      "* i ]). ^ nil");
  e.g.vm->resumeGuest();
  UpdateRecord r = e.apply("point3d.json", R"S({"espellUpdate": 1, "steps": [
      {"op": "redefineClass", "class": "Point", "instanceVariables": ["x", "y", "z", "norm1"],
       "migrate": {"z": {"value": "7"}, "norm1": {"expression": "x abs + y abs"}},
       "methods": ["z = ( ^ z )", "norm1 = ( ^ norm1 )"]}],
    "verify": ["(system global: #P) z = 7", "(system global: #P) norm1 = 7", "((system global: #Ps) at: 10) norm1 = 30",
               "(system global: #P) x = 3"]})S");
  CHECK(r.outcome == Outcome::Committed);
  CHECK(r.instancesMigrated >= 1001);
  e.requireHealthy();
}

TEST_CASE("a large migration's checkpoint saves its instances' pages into copies written before the pause") {
  Engine e;
  e.g.pause();
  e.g.vm->evaluateInGuest("system global: #Ps put: ((1 to: 150000) collect: [ :i | Point x: i y: 2 * i ]). ^ nil");
  e.g.vm->guest().space().collectGarbage();    // old instances: the census finds them before the pause
  space::WriteTracker::releaseSpareChunks(0);  // the pool holds none of their copies
  e.g.vm->resumeGuest();
  UpdateRecord r = e.apply("point3d.json", R"S({"espellUpdate": 1, "steps": [
      {"op": "redefineClass", "class": "Point", "instanceVariables": ["x", "y", "z"], "migrate": {"z": {"value": "5"}},
       "methods": ["z = ( ^ z )"]}],
    "verify": ["((system global: #Ps) at: 149999) z = 5", "((system global: #Ps) at: 149999) y = 299998"]})S");
  CHECK(r.outcome == Outcome::Committed);
  CHECK(r.instancesMigrated >= 150000);
  // 150,000 points of 24 bytes lie on 879 pages: their copies were ready, and they took
  // them first. (What else the pause saves, the guest's eden filled since the arming above
  // all, grows with how long the guest ran on meanwhile: under load it outgrew the chunks'
  // rounding, and had taken the copies meant for the points.) (Collecting at every
  // allocation disarms the checkpoint and drops the census while the guest runs on to its
  // pause: then nothing is prepared, and the pause protects and saves as before.)
  CHECK(r.pagesSaved > 879);
  if (!e.g.vm->guest().space().config().gcStress) CHECK(r.pagesSavedIntoPrepared >= 879);
  CHECK(r.pagesSavedIntoPrepared <= r.pagesSaved);
  e.requireHealthy();
}

TEST_CASE("a migration's memory is written before its pause: one segment holds the new versions, nothing faults") {
  chester::UpdaterOptions o = Engine::testOptions();
  o.verifyHeap = false;  // the verifier's own memory would fault in the pause
  Engine e(o);
  space::Space& guest = e.g.vm->guest().space();
  e.g.pause();
  guest.oldSpace().keepSpareSegment(true);  // as `espell run --control` has it
  e.g.vm->evaluateInGuest("system global: #Ps put: ((1 to: 150000) collect: [ :i | Point x: i y: 2 * i ]). ^ nil");
  guest.collectGarbage();  // old instances: the census finds them before the pause
  e.g.vm->resumeGuest();
  // Ten fields: 150,000 new versions of 96 bytes, 14 MB, more than a segment's 8 MiB.
  UpdateRecord r = e.apply("point10.json", R"S({"espellUpdate": 1, "steps": [
      {"op": "redefineClass", "class": "Point",
       "instanceVariables": ["x", "y", "a", "b", "c", "d", "e", "f", "g", "h"]}],
    "verify": ["((system global: #Ps) at: 149999) y = 299998"]})S");
  CHECK(r.outcome == Outcome::Committed);
  REQUIRE(r.instancesMigrated >= 150000);
  // They fill the bump area armed for the update, then the spare, made as long as they
  // need: two segments. Without the room they take two fresh segments after the bump area.
  e.g.pause();
  space::Handle points = e.g.vm->evaluateInGuest("^ system global: #Ps");
  std::set<uintptr_t> segments;
  for (size_t i = 0; i < 150000; i++) {
    const space::Segment* s = guest.oldSpace().segmentOf(points.get().object()->slot(i).address());
    REQUIRE(s != nullptr);
    segments.insert(s->start);
  }
  e.g.vm->resumeGuest();
  // (Collecting at every allocation drops the census on the way to the pause: no room.)
  if (!guest.config().gcStress) CHECK(segments.size() <= 2);
  // Nor do the pause's writes fault: the new versions go to the room, the instances and
  // their versions are listed in buffers written ahead (SpaceMirror::prepareMigration),
  // the saved pages into copies written ahead. Without the buffers written ahead the
  // pause faulted 361 times; the new versions alone are 3,500 pages. (A sanitizer's
  // shadow memory faults on its own.)
  if (!guest.config().gcStress && !kSanitized) CHECK(r.pauseFaults < 256);
  e.requireHealthy();
}

TEST_CASE("migrations back to back: each pause writes only memory written ahead, nothing faults") {
  chester::UpdaterOptions o = Engine::testOptions();
  o.verifyHeap = false;
  Engine e(o);
  space::Space& guest = e.g.vm->guest().space();
  e.g.pause();
  guest.oldSpace().keepSpareSegment(true);
  e.g.vm->evaluateInGuest("system global: #Ps put: ((1 to: 150000) collect: [ :i | Point x: i y: 2 * i ]). ^ nil");
  guest.collectGarbage();
  e.g.vm->resumeGuest();
  // The first migration makes 14 MB of new versions under its checkpoint, which forbids
  // a collection: one is due when the second begins, and runs before its census
  // (Space::collectGarbageIfDue). Each pause saves its instances' pages into the copies
  // written ahead, and the pages the guest wrote while armed (and the classes and methods
  // it changes) into the pool of spare chunks, which those copies no longer count in (in
  // 2 runs of 3 when they did, the second pause faulted in a fresh chunk, 256 pages).
  const char* steps[] = {R"S({"espellUpdate": 1, "steps": [{"op": "redefineClass", "class": "Point",
       "instanceVariables": ["x", "y", "a", "b", "c", "d", "e", "f", "g", "h"]}]})S",
                         R"S({"espellUpdate": 1, "steps": [{"op": "redefineClass", "class": "Point",
       "instanceVariables": ["x", "y"]}]})S"};
  for (const char* step : steps) {
    UpdateRecord r = e.apply("point.json", step);
    CHECK(r.outcome == Outcome::Committed);
    if (!guest.config().gcStress && !kSanitized) CHECK(r.pauseFaults < 128);
  }
  e.requireHealthy();
}

TEST_CASE("migrated instances keep their identity hash: identity-keyed collections still find them") {
  Engine e;
  e.g.pause();
  e.g.vm->evaluateInGuest(
      "| ps d | ps := (1 to: 300) collect: [ :i | Point x: i y: i ]. d := IdentityDictionary new. "
      "ps do: [ :p | d at: p put: p x ]. system global: #Ps put: ps. system global: #ByPoint put: d. "
      "system global: #FirstHash put: (ps at: 1) hashcode. ^ nil");
  e.g.vm->resumeGuest();
  UpdateRecord r = e.apply("point3d.json", R"S({"espellUpdate": 1, "steps": [
      {"op": "redefineClass", "class": "Point", "instanceVariables": ["x", "y", "z"], "migrate": {"z": {"value": "0"}},
       "methods": ["z = ( ^ z )"]}],
    "verify": ["((system global: #Ps) at: 1) hashcode = (system global: #FirstHash)",
               "((system global: #Ps) at: 1) z = 0",
               "(system global: #Ps) inject: true into: [ :ok :p | ok and: [ ((system global: #ByPoint) at: p) = p x ] ]"]})S");
  CHECK(r.outcome == Outcome::Committed);
  CHECK(r.instancesMigrated >= 300);
  e.requireHealthy();
}

TEST_CASE("verify expressions run in one evaluation, in order, and the one that failed is named") {
  Engine e;
  SUBCASE("the first that does not answer true stops the others") {
    requireRolledBack(e, "stop.json", answerZeroVerifying(R"("Workers new answer = 0", "false", "nil foo")"),
                      "verify[1]");
  }
  SUBCASE("an expression that returns with ^ gives its answer, and the next ones still run") {
    requireRolledBack(e, "caret.json", answerZeroVerifying(R"("^ true", "Workers new answer = 0", "^ 3", "true")"),
                      "verify[2]");
    requireRolledBack(e, "caret-later.json", answerZeroVerifying(R"("^ true", "true", "Workers new answer = 1")"),
                      "verify[2]");
  }
  SUBCASE("an expression that tampers with the record still fails the update") {
    requireRolledBack(
        e, "record.json",
        answerZeroVerifying(R"("true", "chesterVerifyAnswers at: 1 put: 3. true", "Workers new answer = 41")"),
        "verify[");
  }
  SUBCASE("all true: committed, and nothing of the verification is left in the guest") {
    UpdateRecord r = e.apply("fine.json", answerZeroVerifying(R"("^ true", "Workers new answer = 0", "3 > 2")"));
    CHECK(r.outcome == Outcome::Committed);
    CHECK(e.guestInteger("^ (system global: #ChesterVerifyAnswers) isNil ifTrue: [ 1 ] ifFalse: [ 0 ]") == 1);
    CHECK(e.guestInteger("^ (system global: #chesterVerifyAnswers) isNil ifTrue: [ 1 ] ifFalse: [ 0 ]") == 1);
    e.requireHealthy();
  }
}
