// Updater: see Updater.h.
#include "chester/Updater.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <optional>

#include "chester/ScriptError.h"
#include "chester/ScriptLiterals.h"
#include "chester/StepApplier.h"
#include "space/ThreadUsage.h"
#include "vm/ClassBuilder.h"
#include "vm/MethodDictionary.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/RuntimeCheckpoint.h"
#include "vm/Scheduler.h"
#include "vm/compiler/Ast.h"
#include "vm/compiler/Parser.h"
#include "vm/compiler/SourceLocation.h"

namespace chester {

namespace {

int64_t now() {
  return vm::Scheduler::nowMicros();
}

// How long each step of an instance census walks the guest's heap before the guest is
// served again: the guest waits for it as it waits for any step before the pause.
constexpr std::chrono::microseconds kCensusStep{300};

std::string isoNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

// A failure while the guest is paused: where it happened and why.
struct Failure {
  std::string where;
  std::string what;
};

// The guest's class named `name` as it is now, or the null oop. Reads only (no symbol is
// interned): it runs before the pause, beside the running guest.
space::Oop classOf(vm::Runtime& guest, const std::string& name) {
  space::Oop symbol = guest.space().symbols().lookup(name);
  space::Oop cls = symbol.isNull() ? space::Oop() : guest.globals().at(symbol);
  return cls.isNull() || !vm::isClass(guest, cls) ? space::Oop() : cls;
}

}  // namespace

std::string sha256Hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; i++) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// ---- the two forms of script ------------------------------------------------------------

class Updater::Application {
 public:
  virtual ~Application() = default;
  // Throws Failure (by way of the engine's catch) when a step or a verification fails.
  virtual void apply(GuestHost& host, std::string& where) = 0;
  virtual void verify(GuestHost& host, std::string& where) = 0;
  // After the update, committed or not: drops what the script left in the hypervisor.
  virtual void finish(GuestHost&) {}
  // The methods the update adds, removes or moves, as far as the script tells before it
  // runs (the engine has what changing them writes made writable ahead of the pause);
  // none when it cannot tell.
  virtual std::vector<MethodChange> methodChanges() const { return {}; }
  // Before the pause, with the guest running: parses and generates the code the update
  // will compile in the pause (vm::PreparedCode). Reads the guest, allocates nothing.
  // `between` serves the guest: called between items, when no raw guest oop is held.
  virtual void prepare(GuestHost&, const std::function<void()>& between) { (void)between; }
  // After prepare: about how many bytes of old objects the pause will make in one go (a
  // migration's new versions), for room written ahead (space::Space::prepareOldSpaceRoom).
  virtual size_t newObjectBytes() const { return 0; }
};

class Updater::JsonApplication final : public Application {
 public:
  explicit JsonApplication(JsonScript script) : script_(std::move(script)) {}
  void apply(GuestHost& host, std::string& where) override {
    StepApplier applier(host);
    for (const Step& step : script_.steps) {
      where = step.path() + " (" + step.op + ")";
      applier.apply(step);
    }
  }
  void verify(GuestHost& host, std::string& where) override { StepApplier(host).verifyAll(script_.verify, where); }
  const std::string& description() const { return script_.description; }
  void prepare(GuestHost& host, const std::function<void()>& between) override {
    vm::Runtime& guest = host.guestRuntime();
    const mop::SpaceMirror& mirror = host.guestMirror();
    // A class of the guest as it is now (nothing when an earlier step makes it).
    auto classNamed = [&](const Step& step, const char* field) {
      space::Oop cls = classOf(guest, step.fields.value(field, ""));
      if (cls.isNull()) return cls;
      return step.fields.value("side", "instance") == "class" ? guest.classes().metaclassOf(cls) : cls;
    };
    for (const Step& step : script_.steps) {
      if (step.op == "addMethod") {
        space::Oop cls = classNamed(step, "class");
        if (!cls.isNull()) mirror.prepareMethod(cls, step.fields.value("source", ""));
      } else if (step.op == "moveMethod") {
        space::Oop from = classNamed(step, "from"), to = classNamed(step, "to");
        space::Oop selector = guest.space().symbols().lookup(step.fields.value("selector", ""));
        if (from.isNull() || to.isNull() || selector.isNull()) continue;
        space::Oop method = vm::method_dictionary::lookup(
            guest.space(), from.object()->slot(vm::class_slot::kMethodDictionary), selector);
        if (!method.isNull()) mirror.prepareMethod(to, std::string(vm::sourceTextOf(guest, method)));
      } else {
        continue;
      }
      between();
    }
    StepApplier::prepareVerify(guest, script_.verify);
    // The instances the pause will look for (a redefinition migrates them, a rehash sends
    // to them), found now, a step between the guest's slices (space/InstanceCensus.h).
    std::vector<space::ClassIndex> counted;
    for (const Step& step : script_.steps) {
      if (step.op != "redefineClass" && step.op != "rehash") continue;
      space::Oop cls = classOf(guest, step.fields.value("class", ""));
      if (!cls.isNull()) counted.push_back(space::ClassIndex(cls.object()->rawHash()));
    }
    if (!counted.empty()) {
      guest.space().collectGarbageIfDue();           // it would drop the census, and the arming
      guest.space().finishSweepingBetween(between);  // the census walks swept segments
      guest.space().openCensus(std::move(counted));
      while (!guest.space().censusStep(kCensusStep)) between();
      auto [instances, bytes] = newVersions(guest);
      newObjectBytes_ = bytes;
      // With room for those made or promoted after the census.
      if (instances != 0) host.guestMirror().prepareMigration(instances + instances / 16, between);
    }
  }
  size_t newObjectBytes() const override { return newObjectBytes_; }
  std::vector<MethodChange> methodChanges() const override {
    std::vector<MethodChange> changes;
    for (const Step& step : script_.steps) {
      bool classSide = step.fields.value("side", "instance") == "class";
      std::string selector = step.fields.value("selector", "");
      if (step.op == "removeMethod") {
        changes.push_back({step.fields.value("class", ""), classSide, selector});
      } else if (step.op == "moveMethod") {
        changes.push_back({step.fields.value("from", ""), classSide, selector});
        changes.push_back({step.fields.value("to", ""), classSide, selector});
      } else if (step.op == "addMethod") {
        try {  // parsed when the script was read: it parses
          selector = vm::Parser(step.fields.value("source", ""), step.path()).parseMethod()->selector;
          changes.push_back({step.fields.value("class", ""), classSide, selector});
        } catch (const vm::CompileError&) {
        }
      }
    }
    return changes;
  }

 private:
  // The instances the census found of the classes the steps redefine, and the bytes of
  // their new versions (as the guest's classes are now: a superclass the script itself
  // makes counts as the current one).
  std::pair<size_t, size_t> newVersions(vm::Runtime& guest) const {
    const space::InstanceCensus* census = guest.space().census();
    if (census == nullptr) return {0, 0};  // dropped by a collection while the guest was served
    auto fixedFields = [](space::Oop cls) {
      return vm::InstanceSpec::fixedFields(cls.object()->slot(vm::class_slot::kInstanceSpec).smallInteger());
    };
    size_t instances = 0, bytes = 0;
    for (const Step& step : script_.steps) {
      if (step.op != "redefineClass") continue;
      space::Oop cls = classOf(guest, step.fields.value("class", ""));
      if (cls.isNull()) continue;
      space::Oop superclass = cls.object()->slot(vm::class_slot::kSuperclass);
      size_t own = fixedFields(cls) - (vm::isClass(guest, superclass) ? fixedFields(superclass) : 0);
      if (step.fields.contains("superclass")) {
        space::Oop named = classOf(guest, step.fields.value("superclass", ""));
        if (!named.isNull()) superclass = named;
      }
      if (step.fields.contains("instanceVariables") && step.fields["instanceVariables"].is_array()) {
        own = step.fields["instanceVariables"].size();
      }
      size_t fields = own + (vm::isClass(guest, superclass) ? fixedFields(superclass) : 0);
      space::ClassIndex index = space::ClassIndex(cls.object()->rawHash());
      size_t found = census->foundOf(index) + guest.space().youngInstancesOf(index);
      instances += found;
      bytes += found * space::HeapObject::wordsForSlots(fields) * 8;
    }
    return {instances, bytes};
  }

  JsonScript script_;
  size_t newObjectBytes_ = 0;
};

// A class file loaded into the hypervisor space; one instance runs apply: and verify:
// with the global Guest (the mirror on the guest space) as argument.
class Updater::SmalltalkApplication final : public Application {
 public:
  SmalltalkApplication(std::string className, bool hasVerify, ScriptLiterals literals)
      : className_(std::move(className)), hasVerify_(hasVerify), literals_(std::move(literals)) {}
  // What the script will most likely do, from its literals (ScriptLiterals.h): each method
  // source installed in each class it names, each statement text evaluated in the guest.
  std::vector<MethodChange> methodChanges() const override {
    std::vector<MethodChange> changes;
    forEachGuess([&](const std::string& cls, const std::string&, const std::string& selector) {
      changes.push_back({cls, false, selector});
    });
    return changes;
  }
  void prepare(GuestHost& host, const std::function<void()>& between) override {
    vm::Runtime& guest = host.guestRuntime();
    forEachGuess([&](const std::string& name, const std::string& source, const std::string&) {
      space::Oop cls = classOf(guest, name);
      if (cls.isNull()) return;
      host.guestMirror().prepareMethod(cls, source);
      between();
    });
    for (const std::string& statements : literals_.statements) {
      guest.prepareEvaluation(statements, {});
      between();
    }
    // The statements that run the script in the hypervisor are known exactly.
    host.hypervisorRuntime().prepareEvaluation(applyStatements(), {});
    if (hasVerify_) host.hypervisorRuntime().prepareEvaluation(verifyStatements(), {});
  }
  void apply(GuestHost& host, std::string& where) override {
    where = className_ + ">>apply:";
    host.evaluateInHypervisor(applyStatements());
  }
  void verify(GuestHost& host, std::string& where) override {
    if (!hasVerify_) return;
    where = className_ + ">>verify:";
    space::Handle answer = host.evaluateInHypervisor(verifyStatements());
    if (answer.get() != host.hypervisorRuntime().trueObject()) throw StepError("verify: did not answer true");
  }
  void finish(GuestHost& host) override {
    host.evaluateInHypervisor("system global: #" + std::string(kInstanceGlobal) + " put: nil");
  }

 private:
  // A script's guesses are bounded: a file of many literals costs no more before the pause.
  static constexpr size_t kMostGuesses = 256;
  // f(class name, method source, selector) for each method literal and class literal.
  template <typename F>
  void forEachGuess(F&& f) const {
    size_t n = 0;
    for (const std::string& source : literals_.methods) {
      std::string selector;
      try {  // parsed when the literals were sorted: it parses
        selector = vm::Parser(source, "<literal>").parseMethod()->selector;
      } catch (const vm::CompileError&) {
        continue;
      }
      for (const std::string& cls : literals_.classNames) {
        if (n++ == kMostGuesses) return;
        f(cls, source, selector);
      }
    }
  }

 private:
  static constexpr const char* kInstanceGlobal = "ChesterScriptInstance";
  // The hypervisor statements that make the script's instance and send it apply: Guest,
  // and those that send it verify: Guest.
  std::string applyStatements() const {
    return "system global: #" + std::string(kInstanceGlobal) + " put: " + className_ + " new. ^ (system global: #" +
           kInstanceGlobal + ") apply: Guest";
  }
  std::string verifyStatements() const {
    return "^ (system global: #" + std::string(kInstanceGlobal) + ") verify: Guest";
  }
  std::string className_;
  bool hasVerify_;
  ScriptLiterals literals_;
};

// ---- the engine ---------------------------------------------------------------------------

// How long the guest runs on at most while its checkpoint is armed in the background
// (1 GiB of heap took about 25 ms to protect on this machine kind); the pause then waits
// for the rest.
constexpr std::chrono::microseconds kLongestArming{50'000};
// Then how long it runs on at most while the copies of the pages a migration will save
// are written ahead (space::WriteTracker::prepareCopies: those of a million instances,
// 19,536 pages, took about 300 ms), and the room for its new versions (32 MiB for a
// million points); the pause takes what is ready and waits for no more.
constexpr std::chrono::microseconds kLongestPreparing{500'000};
// How long the guest may run each time the engine serves it before the pause: about what
// twenty keep-alive requests to the hub take; it returns sooner when it has nothing to do.
constexpr std::chrono::microseconds kServeBudget{500};

Updater::Updater(GuestHost& host, UpdaterOptions options) : host_(host), options_(std::move(options)) {
  if (!options_.logPath.empty()) {
    log_.open(options_.logPath, std::ios::app);
    if (!log_) throw std::runtime_error(options_.logPath + ": cannot open the update log for appending");
  }
}

UpdateRecord Updater::apply(const ScriptText& script, std::optional<std::chrono::microseconds> pauseDeadline) {
  const std::chrono::microseconds deadline = pauseDeadline.value_or(options_.pauseDeadline);
  UpdateRecord record;
  record.id = nextId_++;
  record.script = script.name;
  record.sha256 = sha256Hex(script.text);
  record.receivedAt = isoNow();
  int64_t start = now();
  // Before the pause the guest is served between the engine's steps; `held` keeps the
  // longest stretch it waited for them.
  int64_t heldSince = start;
  auto heldUntilNow = [&] { record.timings.heldBefore = std::max(record.timings.heldBefore, now() - heldSince); };
  auto serveGuest = [&] {
    heldUntilNow();
    host_.serve(kServeBudget);
    heldSince = now();
  };
  ScriptForm form = formOf(script);
  record.form = form == ScriptForm::Json ? "json" : "smalltalk";

  // ---- validated: nothing touches the guest before the script is known to be sound.
  std::unique_ptr<Application> application;
  try {
    if (form == ScriptForm::Json) {
      JsonScript parsed = readJsonScript(script);
      record.description = parsed.description;
      application = std::make_unique<JsonApplication>(std::move(parsed));
    } else {
      vm::Parser parser(script.text, script.name);
      std::unique_ptr<vm::ClassNode> node = parser.parseClass();
      bool hasApply = false, hasVerify = false;
      for (const auto& m : node->instanceMethods) {
        hasApply |= m->selector == "apply:";
        hasVerify |= m->selector == "verify:";
      }
      if (!hasApply) throw ScriptError(node->name, "a Smalltalk update script answers apply: (it has no such method)");
      std::string name = host_.loadHypervisorClass(script.text, script.name);
      serveGuest();
      space::Handle description =
          host_.evaluateInHypervisor("^ (" + name + " new respondsTo: #description) ifTrue: [ " + name +
                                     " new description asString ] ifFalse: [ nil ]");
      if (vm::isString(host_.hypervisorRuntime(), description.get())) {
        record.description = std::string(vm::bytesOf(description.get()));
      }
      serveGuest();
      application = std::make_unique<SmalltalkApplication>(name, hasVerify, literalsOf(*node));
    }
  } catch (const ScriptError& e) {
    record.outcome = Outcome::Refused;
    record.failedStep = e.where();
    record.error = e.problem();
  } catch (const vm::CompileError& e) {
    record.outcome = Outcome::Refused;
    record.failedStep = e.where().line > 0
                            ? "line " + std::to_string(e.where().line) + ", column " + std::to_string(e.where().column)
                            : std::string();
    record.error = e.message();
  } catch (const std::exception& e) {
    record.outcome = Outcome::Refused;
    record.error = e.what();
  }
  record.timings.validate = now() - start;
  if (!application) {
    record.timings.total = now() - start;
    finish(record);
    return record;
  }
  serveGuest();

  // ---- preparing, while the guest serves between the steps: the code the pause will
  // compile, generated now. It comes before the arming: a page the guest writes after
  // the arming is one the checkpoint copies in the pause, so the guest runs armed only
  // while the protection is set (on another thread), not while code is generated.
  bool pausedByCaller = host_.paused();
  space::Space& guestSpace = host_.guestRuntime().space();
  int64_t armStart = now();
  host_.guestRuntime().classes().prepareForUpdate();  // the invalidation index, built outside the pause
  serveGuest();
  struct DropCensus {  // an instance census (JsonApplication::prepare) ends with the update
    space::Space& space;
    ~DropCensus() { space.dropCensus(); }
  } dropCensus{guestSpace};
  struct ForgetPrepared {  // whatever is prepared goes with the update
    vm::ClassBuilder& classes;
    ~ForgetPrepared() { classes.forgetPrepared(); }
  } forgetPreparedInGuest{host_.guestRuntime().classes()},
      forgetPreparedInHypervisor{host_.hypervisorRuntime().classes()};
  try {
    application->prepare(host_, serveGuest);
  } catch (const std::exception& e) {
    spdlog::debug("update {}: preparing its code ahead failed ({}); the pause will compile it", record.id, e.what());
  }

  // ---- pausing (a guest its caller paused stays paused afterwards). The checkpoint's
  // protection is taken ahead, while the guest runs on towards its update points: the
  // pause then only protects the pages written meanwhile (space::WriteTracker).
  // A lazy sweep still running ends first, the guest served between its steps: the
  // arming would end it at once (the checkpoint records old space swept).
  guestSpace.finishSweepingBetween(serveGuest);
  try {
    guestSpace.armCheckpoint();
    writeAheadOfMethodChanges(*application);
    // A migration or a rehash writes every instance its census found: the arming leaves
    // their pages out (the checkpoint copies them as it begins), and their copies get
    // memory written ahead.
    if (const space::InstanceCensus* census = guestSpace.census())
      guestSpace.prepareCheckpointCopies(census->pagesFound());
    // And it makes their new versions in new segments (space::SpaceCheckpoint): the spare
    // one, written after the copies, is made that long.
    guestSpace.prepareOldSpaceRoom(application->newObjectBytes());
  } catch (const std::exception& e) {
    spdlog::debug("update {}: protecting the guest's pages ahead failed ({}); the pause will", record.id, e.what());
  }
  record.timings.arm = now() - armStart;
  heldUntilNow();
  // The protection is set on another thread: the guest serves meanwhile, and is asked to
  // pause once it is in place, so that its pause does not wait for it (a full
  // collection in between disarms; the checkpoint then protects in the pause).
  host_.runWhile([&] { return guestSpace.checkpointArmed() && !guestSpace.checkpointArmingDone(); }, kLongestArming);
  host_.runWhile(
      [&] {
        return (guestSpace.checkpointArmed() && !guestSpace.checkpointCopiesPrepared()) ||
               !guestSpace.oldSpaceRoomPrepared();
      },
      kLongestPreparing);
  PauseResult pause = host_.pause(deadline);
  record.timings.pause = pause.micros;
  if (pause.kind != PauseResult::Kind::Paused) {
    guestSpace.disarmCheckpoint();
    record.outcome = pause.kind == PauseResult::Kind::TimedOut ? Outcome::TimedOut : Outcome::Refused;
    record.failedStep = "pause";
    record.error = pause.kind == PauseResult::Kind::TimedOut ? "the guest did not reach its update points within " +
                                                                   std::to_string(deadline.count() / 1000) + " ms"
                                                             : "the guest program has finished";
    record.notArrived = pause.notArrived;
    record.timings.total = now() - start;
    finish(record);
    return record;
  }
  int64_t paused = now();
  space::ThreadUsage pausedUsage = space::ThreadUsage::now();

  // ---- checkpoint, applying, verifying.
  vm::Runtime& guest = host_.guestRuntime();
  mop::SpaceMirror& mirror = host_.guestMirror();
  std::optional<Failure> failure;
  {
    int64_t t = now();
    vm::RuntimeCheckpoint checkpoint(guest);
    mirror.resetChanges();
    guest.classes().beginBatch();
    record.timings.checkpoint = now() - t;
    int64_t applyUntil = now() + options_.applyDeadline.count();
    guest.setEvaluationDeadline(applyUntil);
    host_.hypervisorRuntime().setEvaluationDeadline(applyUntil);
    std::string where;
    auto attempt = [&](auto&& phase) {
      try {
        phase();
      } catch (const space::HeapExhausted& e) {
        failure = Failure{where, std::string("the guest's heap is exhausted: ") + e.what()};
      } catch (const std::exception& e) {  // MirrorError, StepError, CompileError, a failed evaluation
        failure = Failure{where, e.what()};
      }
    };
    t = now();
    attempt([&] {
      application->apply(host_, where);
      guest.classes().endBatch();  // the verification runs the new code
    });
    record.timings.apply = now() - t;
    if (!failure) {
      t = now();
      attempt([&] {
        application->verify(host_, where);
        if (options_.verifyHeap) {
          where = "heap verification";
          std::vector<std::string> problems = mirror.verify();
          if (!problems.empty()) throw StepError(problems.front());
        }
      });
      record.timings.verify = now() - t;
    }
    guest.setEvaluationDeadline(INT64_MAX);
    host_.hypervisorRuntime().setEvaluationDeadline(INT64_MAX);
    record.classesChanged = int64_t(mirror.changes().classes);
    record.methodsChanged = int64_t(mirror.changes().methods);
    record.instancesMigrated = int64_t(mirror.changes().instances);
    record.pagesSaved = int64_t(checkpoint.spaceCheckpoint().pagesSaved());
    record.pagesSavedIntoPrepared = int64_t(checkpoint.spaceCheckpoint().pagesSavedIntoPrepared());
    t = now();
    if (failure) {
      checkpoint.rollback();
      record.timings.rollback = now() - t;
    } else {
      checkpoint.commit();
      record.timings.commit = now() - t;
    }
  }
  if (failure) {
    record.outcome = Outcome::RolledBack;
    record.failedStep = failure->where;
    record.error = failure->what;
  } else {
    record.outcome = Outcome::Committed;
    committed_++;
  }

  // ---- resumed. The guest runs again as soon as resume() begins (it then runs until its
  // next heartbeat before resume() returns): its pause ends here.
  record.timings.guestPause = now() - paused;
  space::ThreadUsage pauseUsage = space::ThreadUsage::now().since(pausedUsage);
  record.timings.guestPauseCpu = int64_t(pauseUsage.cpuNanos / 1000);
  record.pauseFaults = int64_t(pauseUsage.faults);
  if (!pausedByCaller) host_.resume();
  try {
    application->finish(host_);
  } catch (const std::exception& e) {
    spdlog::warn("update {}: cleaning up the hypervisor failed: {}", record.id, e.what());
  }
  record.timings.total = now() - start;
  finish(record);
  return record;
}

// Changing a method writes its class's method dictionary and clears the send sites that
// cache a lookup of its selector: scattered pages of the heap, each a fault in the pause
// under the checkpoint (a signal and a protection call, whose TLB flush on a virtual
// machine of two cores can wait for the other one). Their pages are made writable now
// instead, before the pause, and the checkpoint copies them as it begins; sites the guest
// fills between now and the pause still fault. Only reads the guest: allocates nothing.
void Updater::writeAheadOfMethodChanges(const Application& application) {
  vm::Runtime& guest = host_.guestRuntime();
  const space::SymbolTable& symbols = guest.space().symbols();
  std::vector<space::Oop> selectors;
  std::vector<uintptr_t> pages;
  for (const MethodChange& change : application.methodChanges()) {
    space::Oop selector = symbols.lookup(change.selector);
    if (!selector.isNull()) selectors.push_back(selector);  // no symbol: no site sends it
    space::Oop cls = classOf(guest, change.className);
    if (cls.isNull()) continue;  // the step fails, or an earlier one makes it
    if (change.classSide) cls = guest.classes().metaclassOf(cls);
    std::vector<uintptr_t> dictionary = guest.classes().pagesOfMethodDictionary(cls);
    pages.insert(pages.end(), dictionary.begin(), dictionary.end());
  }
  std::vector<uintptr_t> sites = guest.classes().pagesOfCachingSites(selectors);
  pages.insert(pages.end(), sites.begin(), sites.end());
  guest.space().writeAheadOfCheckpoint(pages);
}

void Updater::finish(UpdateRecord& record) {
  if (record.outcome == Outcome::Committed) {
    spdlog::info("update {} ({}): committed, guest paused {} us, {} methods, {} classes, {} instances", record.id,
                 record.script, record.timings.guestPause, record.methodsChanged, record.classesChanged,
                 record.instancesMigrated);
  } else {
    spdlog::warn("update {} ({}): {}{}: {}", record.id, record.script, outcomeName(record.outcome),
                 record.failedStep.empty() ? std::string() : " at " + record.failedStep, record.error);
  }
  if (log_.is_open()) {
    log_ << record.toJson().dump() << '\n';
    log_.flush();
  }
  records_.push_back(record);
}

}  // namespace chester
