// StepApplier: see StepApplier.h. Each step validates what it can before changing
// anything, but correctness does not depend on it: the engine's checkpoint undoes a
// partly applied update.
#include "chester/StepApplier.h"

#include <algorithm>
#include <optional>

#include "vm/MethodDictionary.h"
#include "vm/Objects.h"

namespace chester {

using mop::Ref;
using nlohmann::json;

namespace {

std::string field(const Step& step, const char* name, const std::string& otherwise = std::string()) {
  auto it = step.fields.find(name);
  return it == step.fields.end() ? otherwise : it->get<std::string>();
}

std::vector<std::string> strings(const Step& step, const char* name) {
  std::vector<std::string> out;
  auto it = step.fields.find(name);
  if (it != step.fields.end()) {
    for (const json& s : *it) out.push_back(s.get<std::string>());
  }
  return out;
}

mop::InstanceFormat formatNamed(const std::string& name) {
  if (name == "indexable") return mop::InstanceFormat::Indexable;
  if (name == "bytes") return mop::InstanceFormat::Bytes;
  if (name == "words") return mop::InstanceFormat::Words;
  return mop::InstanceFormat::Fixed;
}

// The class a frame's method belongs to, from its description "[] in Class>>selector ...".
std::string holderInDescription(const std::string& description) {
  size_t arrows = description.find(">>");
  if (arrows == std::string::npos) return std::string();
  size_t start = description.rfind(' ', arrows);
  start = start == std::string::npos ? 0 : start + 1;
  return description.substr(start, arrows - start);
}

// A guest variable name for objects handed to a guest evaluation; removed after use.
constexpr const char* kArgumentGlobal = "ChesterStepArgument";
// verifyAll's evaluation: its parameter, the Array recording the answers, and the
// Symbols it answers.
constexpr const char* kVerifyAnswers = "chesterVerifyAnswers";
constexpr const char* kVerifyDone = "chesterVerifyDone";
constexpr const char* kVerifyStopped = "chesterVerifyStopped";

// Slot i of the Array receives expression i's answer; the evaluation stops at the first
// that is not true. An expression that raises, or returns from the evaluation with ^,
// leaves its slot nil: the first slot not true names the one that failed.
std::string verifySource(const std::vector<std::string>& expressions) {
  std::string source;
  std::string r = kVerifyAnswers;
  for (size_t i = 0; i < expressions.size(); i++) {
    std::string slot = std::to_string(i + 1);
    source += r + " at: " + slot + " put: [ " + expressions[i] + " ] value. (" + r + " at: " + slot +
              ") == true ifFalse: [ ^ #" + kVerifyStopped + " ]. ";
  }
  return source + "^ #" + kVerifyDone;
}

}  // namespace

Ref StepApplier::sideOf(const Step& step, const Ref& cls) const {
  return field(step, "side", "instance") == "class" ? guest_.metaclassOf(cls) : cls;
}

Ref StepApplier::evaluate(const std::string& expression) {
  // Statements answer the last one's value (a block's); a "^ x" among them returns x from
  // the evaluation, whatever the text holds (a '^' inside a string literal included).
  return host_.evaluateInGuest("^ [ " + expression + " ] value");
}

void StepApplier::apply(const Step& step) {
  const std::string& op = step.op;
  if (op == "addMethod") return addMethod(step);
  if (op == "removeMethod") return removeMethod(step);
  if (op == "moveMethod") return moveMethod(step);
  if (op == "defineClass") return defineClass(step);
  if (op == "redefineClass") return redefineClass(step);
  if (op == "setSuperclass")
    return guest_.setSuperclass(classNamed(field(step, "class")), classNamed(field(step, "superclass")));
  if (op == "removeClass") return guest_.removeClass(field(step, "name"));
  if (op == "swapIdentities") return swapIdentities(step);
  if (op == "rehash") return rehash(step);
  if (op == "setSpecialObject") return setSpecialObject(step);
  if (op == "restartFrames") return restartFrames(step);
  if (op == "unwindFrames") return unwindFrames(step);
  if (op == "evaluate") {
    evaluate(field(step, "source"));
    return;
  }
  throw StepError("unknown operation '" + op + "'");  // UpdateScript refuses these first
}

void StepApplier::verify(const std::string& expression) {
  Ref answer = evaluate(expression);
  if (answer.get() != host_.guestRuntime().trueObject()) {
    throw StepError("answered " + guest_.describe(answer) + ", not true");
  }
}

void StepApplier::prepareVerify(vm::Runtime& guest, const std::vector<std::string>& expressions) {
  if (!expressions.empty()) guest.prepareEvaluation(verifySource(expressions), {kVerifyAnswers});
}

void StepApplier::verifyAll(const std::vector<std::string>& expressions, std::string& where) {
  if (expressions.empty()) return;
  // The Array is an argument rather than a global: an update's pause writes no globals.
  vm::Runtime& rt = host_.guestRuntime();
  Ref answers(rt.space(), vm::newArray(rt, expressions.size()));
  auto firstNotTrue = [&]() -> size_t {
    size_t i = 0;
    while (i < expressions.size() && guest_.at(answers, i + 1).get() == rt.trueObject()) i++;
    return i;
  };
  std::string source = verifySource(expressions);
  Ref answer;
  try {
    answer = host_.evaluateInGuest(source, {kVerifyAnswers}, {&answers, 1});
  } catch (...) {
    where = "verify[" + std::to_string(firstNotTrue()) + "]";
    throw;
  }
  size_t failed = firstNotTrue();
  bool done = answer.get() == guest_.symbol(kVerifyDone).get();
  bool stopped = answer.get() == guest_.symbol(kVerifyStopped).get();
  size_t next = 0;  // where the expressions are evaluated once more, each on its own
  if (done && failed == expressions.size()) return;
  if (stopped && failed < expressions.size()) {
    where = "verify[" + std::to_string(failed) + "]";
    throw StepError("answered " + guest_.describe(guest_.at(answers, failed + 1)) + ", not true");
  }
  if (!done && !stopped && failed < expressions.size()) {
    // Expression `failed` returned `answer` with ^: its answer, as verify takes it.
    where = "verify[" + std::to_string(failed) + "]";
    if (answer.get() != rt.trueObject()) throw StepError("answered " + guest_.describe(answer) + ", not true");
    next = failed + 1;
  }
  for (size_t i = next; i < expressions.size(); i++) {
    where = "verify[" + std::to_string(i) + "]";
    verify(expressions[i]);
  }
}

void StepApplier::addMethod(const Step& step) {
  Ref cls = sideOf(step, classNamed(field(step, "class")));
  guest_.installMethod(cls, guest_.compileMethod(cls, field(step, "source")));
}

void StepApplier::removeMethod(const Step& step) {
  Ref cls = sideOf(step, classNamed(field(step, "class")));
  std::string selector = field(step, "selector");
  if (!guest_.methodAt(cls, selector)) {
    throw StepError(guest_.describe(cls) + " has no method " + selector + " to remove");
  }
  guest_.removeMethod(cls, selector);
}

// Removes the method first, then adds it to the other class (recompiled there, so that
// its instance variables and super sends bind to the new holder): the order that breaks
// a system updating itself one change at a time, and is safe here because the guest is
// paused and the change is atomic.
void StepApplier::moveMethod(const Step& step) {
  Ref from = sideOf(step, classNamed(field(step, "from")));
  Ref to = sideOf(step, classNamed(field(step, "to")));
  std::string selector = field(step, "selector");
  std::optional<Ref> method = guest_.methodAt(from, selector);
  if (!method) throw StepError(guest_.describe(from) + " has no method " + selector + " to move");
  std::string source = guest_.sourceOf(*method);
  Ref compiled = guest_.compileMethod(to, source);
  guest_.removeMethod(from, selector);
  guest_.installMethod(to, compiled);
}

void StepApplier::defineClass(const Step& step) {
  std::string name = field(step, "name");
  if (guest_.findClass(name)) throw StepError("a class named " + name + " exists already (use redefineClass)");
  Ref cls = guest_.createClass(name, classNamed(field(step, "superclass")), strings(step, "instanceVariables"),
                               formatNamed(field(step, "format", "fixed")));
  for (const std::string& source : strings(step, "methods"))
    guest_.installMethod(cls, guest_.compileMethod(cls, source));
  Ref meta = guest_.metaclassOf(cls);
  for (const std::string& source : strings(step, "classMethods")) {
    guest_.installMethod(meta, guest_.compileMethod(meta, source));
  }
  guest_.installClass(cls);
}

void StepApplier::copyMethods(const Ref& from, const Ref& to) {
  for (const Ref& side : {from, guest_.metaclassOf(from)}) {
    Ref target = side.get() == from.get() ? to : guest_.metaclassOf(to);
    for (const std::string& selector : guest_.selectors(side)) {
      guest_.installMethod(target, guest_.compileMethod(target, guest_.sourceOf(*guest_.methodAt(side, selector))));
    }
  }
}

// A new version of a class: its methods recompiled for the new shape (then those the step
// gives), every instance migrated to it by identity swap, and the name bound to it.
// Subclasses keep the old version as their superclass (docs/UPDATES.md): redefine them
// too, after it, when they should follow.
void StepApplier::redefineClass(const Step& step) {
  std::string name = field(step, "class");
  Ref old = classNamed(name);
  Ref superclass =
      step.fields.contains("superclass") ? classNamed(field(step, "superclass")) : guest_.superclassOf(old);
  std::vector<std::string> all = guest_.instanceVariableNames(old);
  size_t inheritedBefore = guest_.instanceVariableNames(guest_.superclassOf(old)).size();
  std::vector<std::string> own = step.fields.contains("instanceVariables")
                                     ? strings(step, "instanceVariables")
                                     : std::vector<std::string>(all.begin() + long(inheritedBefore), all.end());
  Ref fresh = guest_.createClass(name, superclass, own);
  copyMethods(old, fresh);
  for (const std::string& source : strings(step, "methods")) {
    guest_.installMethod(fresh, guest_.compileMethod(fresh, source));
  }
  std::vector<std::string> newFields = guest_.instanceVariableNames(fresh);
  json migrate = step.fields.value("migrate", json::object());
  for (const auto& [name2, source] : migrate.items()) {
    if (std::find(newFields.begin(), newFields.end(), name2) == newFields.end()) {
      throw StepError("migrate." + name2 + ": the new " + name + " has no instance variable " + name2);
    }
  }
  // Where each field of the new version comes from: the step's mapping, else the old
  // field of the same name, else nil. Expressions are evaluated per instance afterwards.
  std::vector<mop::FieldSource> sources;
  std::vector<std::pair<size_t, std::string>> expressions;  // new field (1-based), expression
  for (size_t i = 0; i < newFields.size(); i++) {
    mop::FieldSource s;
    auto oldIndex = [&](const std::string& f) -> size_t {
      auto it = std::find(all.begin(), all.end(), f);
      if (it == all.end()) throw StepError("migrate." + newFields[i] + ": the old " + name + " has no field " + f);
      return size_t(it - all.begin()) + 1;
    };
    if (migrate.contains(newFields[i])) {
      const json& mapping = migrate[newFields[i]];
      const std::string& kind = mapping.begin().key();
      const json& value = mapping.begin().value();
      if (kind == "from") {
        s.kind = mop::FieldSource::Kind::OldField;
        s.oldField = oldIndex(value.get<std::string>());
      } else if (kind == "value") {
        s.kind = mop::FieldSource::Kind::Value;
        s.value = evaluate(value.get<std::string>());
      } else {
        expressions.emplace_back(i + 1, value.get<std::string>());
      }
    } else if (std::find(all.begin(), all.end(), newFields[i]) != all.end()) {
      s.kind = mop::FieldSource::Kind::OldField;
      s.oldField = oldIndex(newFields[i]);
    }
    sources.push_back(s);
  }
  // One way: every reference to an old instance now reaches its new version, which takes
  // the old identity hash (an IdentityDictionary keyed by instances still finds them).
  if (expressions.empty()) {
    guest_.migrateInstances(old, fresh, sources);
  } else {
    auto [olds, news] = guest_.newInstanceVersions(old, fresh, sources);
    // One guest evaluation computes every expression for every instance: the expression
    // sees the old instance as `old` and its fields by name.
    std::string bindings;
    for (size_t i = 0; i < all.size(); i++) {
      bindings += all[i] + " := old instVarAt: " + std::to_string(i + 1) + ". ";
    }
    std::string locals;
    for (const std::string& f : all) locals += " " + f;
    std::string body;
    for (const auto& [index, expression] : expressions) {
      body += "new instVarAt: " + std::to_string(index) + " put: ([ :old | |" + locals + " | " + bindings + expression +
              " ] value: old). ";
    }
    Ref pair = guest_.newInstance(classNamed("Array"), 2);
    host_.guestRuntime().space().storePointer(pair.get(), 0, olds.get());
    host_.guestRuntime().space().storePointer(pair.get(), 1, news.get());
    guest_.setGlobal(kArgumentGlobal, pair);
    host_.evaluateInGuest(std::string("| olds news | olds := ") + kArgumentGlobal + " at: 1. news := " +
                          kArgumentGlobal + " at: 2. 1 to: olds length do: [ :i | | old new | old := olds at: i. " +
                          "new := news at: i. " + body + "]. ^ nil");
    guest_.removeGlobal(kArgumentGlobal);
    guest_.becomeForward(olds, news);
  }
  guest_.installClass(fresh);
}

void StepApplier::swapIdentities(const Step& step) {
  Ref a = evaluate(field(step, "a"));
  Ref b = evaluate(field(step, "b"));
  guest_.swapIdentities(a, b);
}

void StepApplier::sendToEach(const Ref& array, const std::string& selector) {
  guest_.setGlobal(kArgumentGlobal, array);
  host_.evaluateInGuest(std::string(kArgumentGlobal) + " do: [ :each | each " + selector + " ]. ^ nil");
  guest_.removeGlobal(kArgumentGlobal);
}

// Every instance of the class is rehashed in the guest (its `rehash` method: after its
// elements' hashes changed, their positions in its table are recomputed).
void StepApplier::rehash(const Step& step) {
  Ref cls = classNamed(field(step, "class"));
  vm::Runtime& rt = host_.guestRuntime();
  if (vm::lookupSelector(rt, cls.get(), rt.symbol("rehash")).isNull()) {
    throw StepError(field(step, "class") + " does not understand rehash");
  }
  sendToEach(guest_.allInstances(cls), "rehash");
}

void StepApplier::setSpecialObject(const Step& step) {
  guest_.setSpecialObject(field(step, "name"), evaluate(field(step, "value")));
}

// Restarts, in every process (or the one named), the innermost frame running `selector`
// (of `class`, when given) from its first instruction, running the method's current
// version: after an update that replaced it, the loop it runs is the new one.
void StepApplier::restartFrames(const Step& step) {
  std::string selector = field(step, "selector"), holder = field(step, "class"), process = field(step, "process");
  size_t restarted = 0;
  for (const mop::ProcessView& p : guest_.processes()) {
    if (!process.empty() && p.name != process) continue;
    if (p.status == mop::ProcessStatus::Terminated || p.status == mop::ProcessStatus::Running) continue;
    for (const mop::FrameView& f : guest_.frames(p.process)) {
      if (f.isBlock || f.selector != selector) continue;
      std::string frameHolder = holderInDescription(f.description);
      if (!holder.empty() && frameHolder != holder) continue;
      std::optional<Ref> current;
      if (std::optional<Ref> cls = guest_.findClass(frameHolder)) current = guest_.methodAt(*cls, selector);
      guest_.restartFrame(p.process, f.depth, current);
      restarted++;
      break;
    }
  }
  if (restarted == 0) {
    throw StepError("no frame of " + (holder.empty() ? std::string() : holder + ">>") + selector + " to restart" +
                    (process.empty() ? std::string() : " in process '" + process + "'"));
  }
}

// In every process (or the one named), the innermost frame running `selector` becomes the
// current one: the frames above it are discarded without running their unwind blocks, and
// the send it was making answers `value` (nil by default).
void StepApplier::unwindFrames(const Step& step) {
  std::string selector = field(step, "selector"), process = field(step, "process");
  Ref value = step.fields.contains("value") ? evaluate(field(step, "value")) : guest_.nil();
  size_t unwound = 0;
  for (const mop::ProcessView& p : guest_.processes()) {
    if (!process.empty() && p.name != process) continue;
    if (p.status == mop::ProcessStatus::Terminated || p.status == mop::ProcessStatus::Running) continue;
    for (const mop::FrameView& f : guest_.frames(p.process)) {
      if (f.isBlock || f.selector != selector || f.depth == 0) continue;
      guest_.unwindTo(p.process, f.depth, value);
      unwound++;
      break;
    }
  }
  if (unwound == 0) {
    throw StepError("no frame of " + selector + " to unwind to" +
                    (process.empty() ? std::string() : " in process '" + process + "'"));
  }
}

}  // namespace chester
