// SpaceMirror: values, checks, code loading, instance migration and the VM interface.
// (Processes and frames are in ExecutionMirror.cpp.)
#include "mop/SpaceMirror.h"

#include <algorithm>
#include <cstring>
#include <span>

#include "space/HeapVerifier.h"
#include "vm/ClassBuilder.h"
#include "vm/Globals.h"
#include "vm/MethodDictionary.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/Scheduler.h"
#include "vm/SpecialObjects.h"
#include "vm/compiler/SourceLocation.h"

namespace mop {

using space::LocalRoot;
using space::Oop;
using namespace vm;
using vm::special::kSpecialObjectNames;
using vm::special::SpecialObjectName;

namespace {
// The file name compiled methods report errors and locations in: "<Class>".
std::string sourceNameFor(const vm::Runtime& rt, Oop cls) {
  return "<" + vm::className(rt, cls) + ">";
}
}  // namespace

SpaceMirror::SpaceMirror(vm::Runtime& runtime) : rt_(runtime) {}

// ---- checks ----------------------------------------------------------------------------

void SpaceMirror::requireQuiescent(const char* operation) const {
  if (rt_.scheduler().activeProcess() != rt_.nil()) {
    throw MirrorError(operation, "the space '" + rt_.name() + "' is running; pause it first");
  }
}

void SpaceMirror::checkSameSpace(const char* operation, const Ref& r) const {
  if (!r.isValid()) throw MirrorError(operation, "an empty reference");
  if (&r.space() != &space()) throw MirrorError(operation, "an object of another space");
}

void SpaceMirror::requireClass(const char* operation, const Ref& cls, const char* what) const {
  checkSameSpace(operation, cls);
  if (!isClass(rt_, cls.get())) throw MirrorError(operation, std::string(what) + " is not a class: " + describe(cls));
}

// ---- values ----------------------------------------------------------------------------

Ref SpaceMirror::nil() const {
  return hold(rt_.nil());
}
Ref SpaceMirror::integer(int64_t value) const {
  return hold(newInteger(rt_, value));
}
Ref SpaceMirror::string(std::string_view text) const {
  return hold(newString(rt_, text));
}
Ref SpaceMirror::symbol(std::string_view text) const {
  return hold(rt_.symbol(text));
}

std::optional<int64_t> SpaceMirror::integerValue(const Ref& object) const {
  Oop o = object.get();
  if (o.isSmallInteger()) return o.smallInteger();
  return std::nullopt;
}

std::optional<std::string> SpaceMirror::stringValue(const Ref& object) const {
  Oop o = object.get();
  if (!isString(rt_, o)) return std::nullopt;
  return std::string(bytesOf(o));
}

std::string SpaceMirror::describe(const Ref& object) const {
  return describeObject(rt_, object.get());
}

// ---- code loading ----------------------------------------------------------------------

std::optional<Ref> SpaceMirror::findClass(std::string_view name) const {
  Oop value = rt_.globals().at(rt_.symbol(name));
  if (value.isNull() || !isClass(rt_, value)) return std::nullopt;
  return hold(value);
}

Ref SpaceMirror::classNamed(std::string_view name) const {
  std::optional<Ref> cls = findClass(name);
  if (!cls) throw MirrorError("classNamed", "no class named '" + std::string(name) + "'");
  return std::move(*cls);
}

Ref SpaceMirror::createClass(std::string_view name, const Ref& superclass,
                             const std::vector<std::string>& instanceVariables, InstanceFormat format) {
  const char* op = "createClass";
  requireQuiescent(op);
  requireClass(op, superclass, "the superclass");
  if (name.empty() || !std::isupper(static_cast<unsigned char>(name[0])) ||
      !std::all_of(name.begin(), name.end(),
                   [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; })) {
    throw MirrorError(op, "'" + std::string(name) + "' is not a class name");
  }
  std::vector<std::string> inherited = vm::instanceVariableNames(rt_, superclass.get());
  for (const std::string& v : instanceVariables) {
    if (v.empty() || !std::all_of(v.begin(), v.end(),
                                  [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; })) {
      throw MirrorError(op, "'" + v + "' is not an instance variable name");
    }
    if (std::count(instanceVariables.begin(), instanceVariables.end(), v) > 1 ||
        std::find(inherited.begin(), inherited.end(), v) != inherited.end()) {
      throw MirrorError(op, "instance variable '" + v + "' is defined twice");
    }
  }
  int64_t superSpec = superclass.get().object()->slot(class_slot::kInstanceSpec).smallInteger();
  space::Format superFormat = space::Format(InstanceSpec::format(superSpec));
  size_t fields = inherited.size() + instanceVariables.size();
  space::Format f = space::Format::Fixed;
  switch (format) {
    case InstanceFormat::Fixed:
      if (!space::formatHasPointers(superFormat) && !instanceVariables.empty()) {
        throw MirrorError(op,
                          "instances of " + describe(superclass) + " hold raw data and cannot have instance variables");
      }
      try {
        return hold(rt_.classes().createClass(name, superclass.get(), instanceVariables, {}));
      } catch (const std::invalid_argument& e) {
        throw MirrorError(op, e.what());
      }
    case InstanceFormat::Indexable:
      if (!space::formatHasPointers(superFormat))
        throw MirrorError(op, "an indexable class needs a pointer superclass");
      f = fields == 0 ? space::Format::Indexable : space::Format::FixedIndexable;
      break;
    case InstanceFormat::Bytes:
    case InstanceFormat::Words:
      if (fields != 0) throw MirrorError(op, "byte and word classes cannot have instance variables");
      f = format == InstanceFormat::Bytes ? space::Format::Bytes : space::Format::Words;
      break;
  }
  return hold(rt_.classes().createClassWithFormat(name, superclass.get(), instanceVariables, f, {}));
}

void SpaceMirror::installClass(const Ref& cls) {
  requireQuiescent("installClass");
  requireClass("installClass", cls, "the argument");
  if (cls.get().object()->slot(class_slot::kName) == rt_.nil())
    throw MirrorError("installClass", "a metaclass cannot be installed");
  rt_.classes().installGlobal(cls.get());
  changes_.classes++;
}

void SpaceMirror::removeClass(std::string_view name) {
  requireQuiescent("removeClass");
  Oop sym = rt_.symbol(name);
  Oop value = rt_.globals().at(sym);
  if (value.isNull() || !isClass(rt_, value))
    throw MirrorError("removeClass", "no class named '" + std::string(name) + "'");
  for (const SpecialObjectName& s : kSpecialObjectNames) {
    if (rt_.special(s.index) == value) {
      throw MirrorError("removeClass", std::string(name) + " is the VM's special object " + s.name);
    }
  }
  rt_.globals().undefine(sym);
  changes_.classes++;
}

void SpaceMirror::setSuperclass(const Ref& cls, const Ref& superclass) {
  const char* op = "setSuperclass";
  requireQuiescent(op);
  requireClass(op, cls, "the class");
  requireClass(op, superclass, "the superclass");
  Oop c = cls.get(), s = superclass.get();
  if (c.object()->slot(class_slot::kName) == rt_.nil()) throw MirrorError(op, "give the class, not its metaclass");
  if (inheritsFrom(rt_, s, c)) throw MirrorError(op, describe(superclass) + " inherits from " + describe(cls));
  Oop meta = rt_.classOf(c), superMeta = rt_.classOf(s);
  // The fields the instances (and the class object) inherit must stay where they are.
  auto sameInherited = [&](Oop k, Oop newSuper) {
    std::vector<std::string> names = vm::instanceVariableNames(rt_, k);
    std::vector<std::string> inherited = vm::instanceVariableNames(rt_, k.object()->slot(class_slot::kSuperclass));
    std::vector<std::string> offered = vm::instanceVariableNames(rt_, newSuper);
    return inherited == offered;
  };
  if (!sameInherited(c, s)) {
    throw MirrorError(op, describe(superclass) + " defines other instance variables than " +
                              describe(hold(c.object()->slot(class_slot::kSuperclass))) +
                              "; the instances would change shape (redefine the class and migrate them)");
  }
  if (!sameInherited(meta, superMeta)) {
    throw MirrorError(op, "the class side of " + describe(superclass) + " defines other variables");
  }
  int64_t a = c.object()->slot(class_slot::kInstanceSpec).smallInteger();
  int64_t b = s.object()->slot(class_slot::kInstanceSpec).smallInteger();
  if (space::formatHasPointers(space::Format(InstanceSpec::format(a))) !=
      space::formatHasPointers(space::Format(InstanceSpec::format(b)))) {
    throw MirrorError(op, describe(superclass) + " holds another kind of data than " + describe(cls));
  }
  space().storePointer(c, class_slot::kSuperclass, s);
  space().storePointer(meta, class_slot::kSuperclass, superMeta);
  rt_.classes().invalidateAll();  // every lookup through the class may find other methods now
  changes_.classes++;
}

std::vector<std::string> SpaceMirror::classNames() const {
  std::vector<std::string> names;
  rt_.globals().forEachDefined([&](Oop symbol, Oop value) {
    if (vm::isClass(rt_, value)) names.emplace_back(bytesOf(symbol));
  });
  std::sort(names.begin(), names.end());
  return names;
}

std::optional<Ref> SpaceMirror::globalAt(std::string_view name) const {
  Oop v = rt_.globals().at(rt_.symbol(name));
  if (v.isNull()) return std::nullopt;
  return hold(v);
}

void SpaceMirror::setGlobal(std::string_view name, const Ref& value) {
  requireQuiescent("setGlobal");
  checkSameSpace("setGlobal", value);
  if (name.empty() || !std::isupper(static_cast<unsigned char>(name[0]))) {
    throw MirrorError("setGlobal", "'" + std::string(name) + "' is not a global name (it starts with a capital)");
  }
  LocalRoot sym(space().localRoots(), rt_.symbol(name));
  rt_.globals().atPut(sym.get(), value.get());
}

void SpaceMirror::removeGlobal(std::string_view name) {
  requireQuiescent("removeGlobal");
  Oop sym = rt_.symbol(name);
  if (rt_.globals().at(sym).isNull()) throw MirrorError("removeGlobal", "no global named '" + std::string(name) + "'");
  rt_.globals().undefine(sym);
}

std::string SpaceMirror::className(const Ref& cls) const {
  if (!isClass(rt_, cls.get())) throw MirrorError("className", "not a class: " + describe(cls));
  return vm::className(rt_, cls.get());
}

Ref SpaceMirror::superclassOf(const Ref& cls) const {
  requireClass("superclassOf", cls, "the argument");
  return hold(cls.get().object()->slot(class_slot::kSuperclass));
}

Ref SpaceMirror::metaclassOf(const Ref& cls) const {
  requireClass("metaclassOf", cls, "the argument");
  return hold(rt_.classOf(cls.get()));
}

std::vector<std::string> SpaceMirror::instanceVariableNames(const Ref& cls) const {
  requireClass("instanceVariableNames", cls, "the argument");
  return vm::instanceVariableNames(rt_, cls.get());
}

std::vector<std::string> SpaceMirror::selectors(const Ref& cls) const {
  requireClass("selectors", cls, "the argument");
  std::vector<std::string> out;
  method_dictionary::forEach(space(), cls.get().object()->slot(class_slot::kMethodDictionary),
                             [&](Oop selector, Oop) { out.emplace_back(bytesOf(selector)); });
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<Ref> SpaceMirror::methodAt(const Ref& cls, std::string_view selector) const {
  requireClass("methodAt", cls, "the argument");
  Oop m =
      method_dictionary::lookup(space(), cls.get().object()->slot(class_slot::kMethodDictionary), rt_.symbol(selector));
  if (m.isNull()) return std::nullopt;
  return hold(m);
}

Ref SpaceMirror::compileMethod(const Ref& cls, std::string_view source) {
  requireQuiescent("compileMethod");
  requireClass("compileMethod", cls, "the class");
  try {
    return hold(rt_.classes().compileMethodSource(cls.get(), source, sourceNameFor(rt_, cls.get())));
  } catch (const CompileError& e) {
    throw MirrorError("compileMethod", e.what());
  }
}

namespace {
bool isMethod(vm::Runtime& rt, Oop o) {
  return o.isHeapObject() &&
         (o.object()->classIndex() == rt.known.method || o.object()->classIndex() == rt.known.primitive);
}
}  // namespace

void SpaceMirror::installMethod(const Ref& cls, const Ref& method) {
  const char* op = "installMethod";
  requireQuiescent(op);
  requireClass(op, cls, "the class");
  checkSameSpace(op, method);
  if (!isMethod(rt_, method.get())) throw MirrorError(op, "not a compiled method: " + describe(method));
  // Field indexes in the method were resolved against the class it was compiled for.
  Oop holder = method.get().object()->slot(code_slot::kHolder);
  if (isClass(rt_, holder) && holder != cls.get() &&
      vm::instanceVariableNames(rt_, holder) != vm::instanceVariableNames(rt_, cls.get())) {
    throw MirrorError(op, "the method was compiled for " + vm::className(rt_, holder) + ", whose fields differ from " +
                              vm::className(rt_, cls.get()) + "'s");
  }
  rt_.classes().installMethod(cls.get(), method.get());
  changes_.methods++;
}

void SpaceMirror::removeMethod(const Ref& cls, std::string_view selector) {
  requireQuiescent("removeMethod");
  requireClass("removeMethod", cls, "the class");
  if (!rt_.classes().removeMethod(cls.get(), rt_.symbol(selector))) {
    throw MirrorError("removeMethod", vm::className(rt_, cls.get()) + " has no method #" + std::string(selector));
  }
  changes_.methods++;
}

std::string SpaceMirror::selectorOf(const Ref& method) const {
  if (!isMethod(rt_, method.get())) throw MirrorError("selectorOf", "not a compiled method: " + describe(method));
  return std::string(bytesOf(method.get().object()->slot(code_slot::kSelector)));
}

void SpaceMirror::prepareMethod(Oop cls, std::string_view source) const {
  rt_.classes().prepareMethodSource(cls, source, sourceNameFor(rt_, cls));
}

std::string SpaceMirror::sourceOf(const Ref& method) const {
  if (!isMethod(rt_, method.get())) throw MirrorError("sourceOf", "not a compiled method: " + describe(method));
  return std::string(sourceTextOf(rt_, method.get()));
}

SpaceMirror::SourceSearch SpaceMirror::searchSources(std::string_view text, size_t limit) const {
  SourceSearch result;
  // Reads only: nothing is allocated in the space, so the oops held here stay put.
  std::vector<std::pair<std::string_view, Oop>> classes;
  rt_.globals().forEachDefined([&](Oop symbol, Oop value) {
    if (vm::isClass(rt_, value)) classes.emplace_back(bytesOf(symbol), value);
  });
  std::sort(classes.begin(), classes.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<std::string_view, Oop>> methods;
  for (const auto& [name, cls] : classes) {
    for (bool classSide : {false, true}) {
      Oop side = classSide ? rt_.classOf(cls) : cls;
      methods.clear();
      method_dictionary::forEach(space(), side.object()->slot(class_slot::kMethodDictionary),
                                 [&](Oop selector, Oop method) { methods.emplace_back(bytesOf(selector), method); });
      std::sort(methods.begin(), methods.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [selector, method] : methods) {
        if (result.matches.size() > limit) return result;
        result.methodsSearched++;
        if (!isMethod(rt_, method)) continue;
        std::string_view source = sourceTextOf(rt_, method);
        if (source.find(text) == std::string_view::npos) continue;
        result.matches.push_back({std::string(name), classSide, std::string(selector), std::string(source)});
      }
    }
  }
  return result;
}

// ---- instances -------------------------------------------------------------------------

Ref SpaceMirror::newInstance(const Ref& cls, size_t indexedSize) {
  const char* op = "newInstance";
  requireQuiescent(op);
  requireClass(op, cls, "the argument");
  int64_t spec = cls.get().object()->slot(class_slot::kInstanceSpec).smallInteger();
  space::Format f = space::Format(InstanceSpec::format(spec));
  size_t fixed = InstanceSpec::fixedFields(spec);
  if (f == space::Format::Stack || f == space::Format::CompiledCode) {
    throw MirrorError(op, "instances of " + describe(cls) + " are made by the VM");
  }
  if (!space::formatIsIndexable(f) && indexedSize != 0) throw MirrorError(op, describe(cls) + " is not indexable");
  space::ClassIndex index = space::ClassIndex(cls.get().object()->rawHash());
  if (space::formatIsBytes(f)) {
    size_t words = (indexedSize + 7) / 8;
    Oop o = space().allocate(index, space::bytesFormatWithPadding(unsigned(words * 8 - indexedSize)), words);
    return hold(o);
  }
  return hold(space().allocate(index, f, fixed + indexedSize));
}

Ref SpaceMirror::allInstances(const Ref& cls) {
  requireQuiescent("allInstances");
  requireClass("allInstances", cls, "the argument");
  space::ClassIndex index = space::ClassIndex(cls.get().object()->rawHash());
  // One walk into a buffer kept from call to call (fresh memory costs a fault per page).
  instances_.clear();
  space().forEachInstanceOf(index, [&](space::HeapObject* o) { instances_.push_back(o->asOop()); });
  size_t count = instances_.size();
  auto collections = [&] { return space().stats().scavenges + space().stats().fullCollections; };
  uint64_t before = collections();
  LocalRoot array(space().localRoots(), newArray(rt_, count, space::Tenure::Old));
  size_t found = 0;
  if (collections() == before) {
    for (Oop o : instances_) array.get().object()->slots()[found++] = o;
  } else {
    // Making the Array collected: instances may have moved, and dead ones are gone. Walk
    // again, fill, then trim.
    space().forEachInstanceOf(index, [&](space::HeapObject* o) {
      if (found < count && o != array.get().object()) array.get().object()->slots()[found++] = o->asOop();
    });
  }
  instances_.clear();
  space().rememberIfOld(array.get().object());
  if (found == count) return hold(array.get());
  Oop trimmed = newArray(rt_, found, space::Tenure::Old);
  for (size_t i = 0; i < found; i++) trimmed.object()->slots()[i] = array.get().object()->slot(i);
  space().rememberIfOld(trimmed.object());
  return hold(trimmed);
}

size_t SpaceMirror::sizeOf(const Ref& array) const {
  Oop a = array.get();
  if (!isArray(rt_, a)) throw MirrorError("sizeOf", "not an Array: " + describe(array));
  return a.object()->slotCount();
}

Ref SpaceMirror::at(const Ref& array, size_t index) const {
  size_t n = sizeOf(array);
  if (index < 1 || index > n)
    throw MirrorError("at", "index " + std::to_string(index) + " out of 1.." + std::to_string(n));
  return hold(array.get().object()->slot(index - 1));
}

Ref SpaceMirror::classOf(const Ref& object) const {
  return hold(rt_.classOf(object.get()));
}

void SpaceMirror::setClass(const Ref& object, const Ref& cls) {
  const char* op = "setClass";
  requireQuiescent(op);
  checkSameSpace(op, object);
  requireClass(op, cls, "the new class");
  Oop o = object.get();
  if (!o.isHeapObject())
    throw MirrorError(op, "the class of an immediate (" + describe(object) + ") is set with setSpecialObject");
  if (isClass(rt_, o)) throw MirrorError(op, "changing the class of a class is not supported");
  if (o.object()->classIndex() == rt_.known.process || o.object()->classIndex() == rt_.known.processStack ||
      o.object()->classIndex() == rt_.known.context) {
    throw MirrorError(op, "the class of a VM object (" + describe(object) + ") cannot change");
  }
  Oop current = rt_.classOf(o);
  int64_t a = current.object()->slot(class_slot::kInstanceSpec).smallInteger();
  int64_t b = cls.get().object()->slot(class_slot::kInstanceSpec).smallInteger();
  bool sameFormat = InstanceSpec::format(a) == InstanceSpec::format(b) ||
                    (space::formatIsBytes(space::Format(InstanceSpec::format(a))) &&
                     space::formatIsBytes(space::Format(InstanceSpec::format(b))));
  if (!sameFormat || InstanceSpec::fixedFields(a) != InstanceSpec::fixedFields(b)) {
    throw MirrorError(op, describe(cls) + " does not have the shape of " + vm::className(rt_, current) +
                              " (format and number of fields); migrate with a new instance and swapIdentities");
  }
  o.object()->setClassIndex(space::ClassIndex(cls.get().object()->rawHash()));
  space().noteClassChangedInPlace();
  changes_.instances++;
}

size_t SpaceMirror::fieldCount(const Ref& object) const {
  Oop o = object.get();
  if (!o.isHeapObject()) return 0;
  int64_t spec = rt_.classOf(o).object()->slot(class_slot::kInstanceSpec).smallInteger();
  return InstanceSpec::fixedFields(spec);
}

size_t SpaceMirror::fieldIndex(const char* operation, const Ref& object, std::string_view name) const {
  std::vector<std::string> names = vm::instanceVariableNames(rt_, rt_.classOf(object.get()));
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    throw MirrorError(operation, describe(object) + " has no field named '" + std::string(name) + "'");
  }
  return size_t(it - names.begin()) + 1;
}

Ref SpaceMirror::slotAt(const Ref& object, size_t index) const {
  checkSameSpace("slotAt", object);
  size_t n = fieldCount(object);
  if (index < 1 || index > n) {
    throw MirrorError("slotAt",
                      describe(object) + " has " + std::to_string(n) + " fields, not " + std::to_string(index));
  }
  return hold(object.get().object()->slot(index - 1));
}

Ref SpaceMirror::slotAt(const Ref& object, std::string_view name) const {
  return slotAt(object, fieldIndex("slotAt", object, name));
}

void SpaceMirror::slotAtPut(const Ref& object, size_t index, const Ref& value) {
  const char* op = "slotAtPut";
  requireQuiescent(op);
  checkSameSpace(op, object);
  checkSameSpace(op, value);
  size_t n = fieldCount(object);
  if (index < 1 || index > n) {
    throw MirrorError(op, describe(object) + " has " + std::to_string(n) + " fields, not " + std::to_string(index));
  }
  Oop o = object.get();
  if (isClass(rt_, o) && index <= class_slot::kCount) {
    throw MirrorError(op, "the VM's fields of a class are changed by the class operations");
  }
  space::ClassIndex k = o.object()->classIndex();
  if (k == rt_.known.process || k == rt_.known.processStack || k == rt_.known.context || k == rt_.known.method ||
      k == rt_.known.compiledBlock || k == rt_.known.methodDictionary) {
    throw MirrorError(op, "the fields of " + describe(object) + " belong to the VM");
  }
  space().storePointer(o, index - 1, value.get());
}

void SpaceMirror::slotAtPut(const Ref& object, std::string_view name, const Ref& value) {
  slotAtPut(object, fieldIndex("slotAtPut", object, name), value);
}

namespace {
// The objects to become, each side the elements of an Array or the object itself. An
// Array's elements are read in place (copying 100,000 of them cost 5 ms of fresh memory),
// unless the Array is itself among the objects: become would then write into it.
class BecomeOperands {
 public:
  BecomeOperands(vm::Runtime& rt, Oop a, Oop b) : a_(elements(rt, a, copyA_)), b_(elements(rt, b, copyB_)) {
    auto named = [&](Oop o) {
      return std::find(a_.begin(), a_.end(), o) != a_.end() || std::find(b_.begin(), b_.end(), o) != b_.end();
    };
    if (copyA_.empty() && named(a)) a_ = copyA_ = std::vector<Oop>(a_.begin(), a_.end());
    if (copyB_.empty() && named(b)) b_ = copyB_ = std::vector<Oop>(b_.begin(), b_.end());
  }
  std::span<const Oop> a() const { return a_; }
  std::span<const Oop> b() const { return b_; }

 private:
  static std::span<const Oop> elements(vm::Runtime& rt, Oop o, std::vector<Oop>& copy) {
    if (isArray(rt, o)) return std::span<const Oop>(o.object()->slots(), o.object()->slotCount());
    copy.push_back(o);
    return copy;
  }
  std::vector<Oop> copyA_, copyB_;  // (declared first: the spans may refer to them)
  std::span<const Oop> a_, b_;
};
}  // namespace

void SpaceMirror::swapIdentities(const Ref& a, const Ref& b) {
  const char* op = "swapIdentities";
  requireQuiescent(op);
  checkSameSpace(op, a);
  checkSameSpace(op, b);
  if (isArray(rt_, a.get()) != isArray(rt_, b.get())) throw MirrorError(op, "give two Arrays of pairs, or two objects");
  BecomeOperands operands(rt_, a.get(), b.get());
  std::span<const Oop> x = operands.a(), y = operands.b();
  if (x.size() != y.size()) {
    throw MirrorError(
        op, "the Arrays differ in size (" + std::to_string(x.size()) + " and " + std::to_string(y.size()) + ")");
  }
  try {
    space().swapIdentities(x, y);
  } catch (const std::invalid_argument& e) {
    throw MirrorError(op, e.what());
  }
  changes_.instances += x.size();
}

void SpaceMirror::becomeForward(const Ref& from, const Ref& to) {
  const char* op = "becomeForward";
  requireQuiescent(op);
  checkSameSpace(op, from);
  checkSameSpace(op, to);
  if (isArray(rt_, from.get()) != isArray(rt_, to.get())) throw MirrorError(op, "give two Arrays, or two objects");
  BecomeOperands operands(rt_, from.get(), to.get());
  std::span<const Oop> x = operands.a(), y = operands.b();
  if (x.size() != y.size()) throw MirrorError(op, "the Arrays differ in size");
  try {
    space().becomeForward(x, y, space::CopyHash::Yes);
  } catch (const std::invalid_argument& e) {
    throw MirrorError(op, e.what());
  }
  changes_.instances += x.size();
}

size_t SpaceMirror::checkMigration(const char* op, const Ref& oldClass, const Ref& newClass,
                                   const std::vector<FieldSource>& fields) const {
  requireQuiescent(op);
  requireClass(op, oldClass, "the old class");
  requireClass(op, newClass, "the new class");
  int64_t oldSpec = oldClass.get().object()->slot(class_slot::kInstanceSpec).smallInteger();
  int64_t newSpec = newClass.get().object()->slot(class_slot::kInstanceSpec).smallInteger();
  auto fixedOnly = [](int64_t spec) {
    space::Format f = space::Format(InstanceSpec::format(spec));
    return f == space::Format::Fixed || f == space::Format::Empty;
  };
  if (!fixedOnly(oldSpec) || !fixedOnly(newSpec)) {
    throw MirrorError(op, "only instances with named fields only are migrated field by field");
  }
  size_t oldFields = InstanceSpec::fixedFields(oldSpec), newFields = InstanceSpec::fixedFields(newSpec);
  if (fields.size() != newFields) {
    throw MirrorError(op, describe(newClass) + " has " + std::to_string(newFields) + " fields; " +
                              std::to_string(fields.size()) + " sources were given");
  }
  for (const FieldSource& f : fields) {
    if (f.kind == FieldSource::Kind::OldField && (f.oldField < 1 || f.oldField > oldFields)) {
      throw MirrorError(op, describe(oldClass) + " has no field " + std::to_string(f.oldField));
    }
    if (f.kind == FieldSource::Kind::Value) checkSameSpace(op, f.value);
  }
  return newFields;
}

template <class Made>
void SpaceMirror::makeNewVersions(const Ref& newClass, const std::vector<FieldSource>& fields, size_t count,
                                  Made&& made) {
  // Old space: the instances are made in one go, and nothing moves while they are filled.
  space::ClassIndex index = space::ClassIndex(newClass.get().object()->rawHash());
  space::Format format = fields.empty() ? space::Format::Empty : space::Format::Fixed;
  space().allocateOldObjects(index, format, fields.size(), count, made);
}

void SpaceMirror::fillNewVersion(Oop to, space::HeapObject* from, const std::vector<FieldSource>& fields) {
  for (size_t k = 0; k < fields.size(); k++) {
    const FieldSource& f = fields[k];
    Oop v = f.kind == FieldSource::Kind::OldField ? from->slot(f.oldField - 1)
            : f.kind == FieldSource::Kind::Value  ? f.value.get()
                                                  : rt_.nil();
    space().storePointer(to, k, v);
  }
}

std::pair<Ref, Ref> SpaceMirror::newInstanceVersions(const Ref& oldClass, const Ref& newClass,
                                                     const std::vector<FieldSource>& fields) {
  checkMigration("newInstanceVersions", oldClass, newClass, fields);
  Ref olds = allInstances(oldClass);
  size_t n = olds.get().object()->slotCount();
  LocalRoot news(space().localRoots(), newArray(rt_, n, space::Tenure::Old));
  size_t made = 0;
  makeNewVersions(newClass, fields, n, [&](Oop fresh) { space().storePointer(news.get(), made++, fresh); });
  for (size_t i = 0; i < n; i++) {
    fillNewVersion(news.get().object()->slot(i), olds.get().object()->slot(i).object(), fields);
  }
  return {std::move(olds), hold(news.get())};
}

void SpaceMirror::migrateInstances(const Ref& oldClass, const Ref& newClass, const std::vector<FieldSource>& fields) {
  const char* op = "migrateInstances";
  checkMigration(op, oldClass, newClass, fields);
  // The instances and their new versions stay in buffers kept from call to call, not in
  // Arrays (800 KB of fresh memory each for 100,000 instances), reported to every
  // collection while the migration runs.
  struct Buffers final : space::RootProvider {
    std::vector<Oop>& olds;
    std::vector<Oop>& news;
    space::Space& space;
    Buffers(std::vector<Oop>& o, std::vector<Oop>& n, space::Space& s) : olds(o), news(n), space(s) {
      olds.clear();
      news.clear();
      space.addRootProvider(this);
    }
    ~Buffers() {
      detach();
      olds.clear();
      news.clear();
    }
    // No longer roots: become collects nothing, and after it the old instances are
    // forwarders (following 100,000 of them in its root fix-up cost a millisecond).
    void detach() {
      if (attached) space.removeRootProvider(this);
      attached = false;
    }
    bool attached = true;
    void visitRoots(space::RootVisitor& v) override {
      for (Oop& o : olds) v.visit(o);
      for (Oop& o : news) v.visit(o);
    }
  } buffers(instances_, versions_, space());
  space::ClassIndex index = space::ClassIndex(oldClass.get().object()->rawHash());
  space().forEachInstanceOf(index, [&](space::HeapObject* o) { instances_.push_back(o->asOop()); });
  size_t n = instances_.size();
  makeNewVersions(newClass, fields, n, [&](Oop fresh) { versions_.push_back(fresh); });
  for (size_t i = 0; i < n; i++) fillNewVersion(versions_[i], instances_[i].object(), fields);
  buffers.detach();
  try {
    space().becomeForward(instances_, versions_, space::CopyHash::Yes);
  } catch (const std::invalid_argument& e) {
    throw MirrorError(op, e.what());
  }
  changes_.instances += n;
}

void SpaceMirror::prepareMigration(size_t count, const std::function<void()>& between) {
  constexpr size_t kSlice = 16384;  // oops written between two calls of `between`: 128 KiB
  for (std::vector<Oop>* buffer : {&instances_, &versions_}) {
    if (buffer->capacity() >= count) continue;
    buffer->clear();
    buffer->reserve(count);
    for (size_t n = 0; n < count;) {  // written, not only reserved: the pages are faulted in
      n = std::min(count, n + kSlice);
      buffer->resize(n);
      between();
    }
    buffer->clear();  // the capacity stays
  }
}

// ---- VM interface ----------------------------------------------------------------------

std::vector<std::string> SpaceMirror::specialObjectNames() {
  std::vector<std::string> names;
  for (const SpecialObjectName& s : kSpecialObjectNames) names.emplace_back(s.name);
  return names;
}

namespace {
const SpecialObjectName* findSpecial(std::string_view name) {
  for (const SpecialObjectName& s : kSpecialObjectNames) {
    if (name == s.name) return &s;
  }
  return nullptr;
}
}  // namespace

Ref SpaceMirror::specialObject(std::string_view name) const {
  const SpecialObjectName* s = findSpecial(name);
  if (!s) throw MirrorError("specialObject", "no special object named '" + std::string(name) + "'");
  return hold(rt_.special(s->index));
}

void SpaceMirror::setSpecialObject(std::string_view name, const Ref& value) {
  const char* op = "setSpecialObject";
  requireQuiescent(op);
  checkSameSpace(op, value);
  const SpecialObjectName* s = findSpecial(name);
  if (!s) throw MirrorError(op, "no special object named '" + std::string(name) + "'");
  std::string_view n = s->name;
  Oop v = value.get();
  if (n == "nil" || n == "true" || n == "false" || n == "Globals" || n == "Processor" || n == "UndefinedGlobal") {
    throw MirrorError(op, std::string(n) + " cannot be replaced");
  }
  if (n.starts_with("Class")) {
    if (!isClass(rt_, v) || v.object()->slot(class_slot::kName) == rt_.nil()) {
      throw MirrorError(op, std::string(n) + " must be a class, not " + describe(value));
    }
    // The VM lays out instances of its classes itself: the replacement must agree.
    Oop old = rt_.special(s->index);
    int64_t a = old.object()->slot(class_slot::kInstanceSpec).smallInteger();
    int64_t b = v.object()->slot(class_slot::kInstanceSpec).smallInteger();
    if (InstanceSpec::format(a) != InstanceSpec::format(b) ||
        InstanceSpec::fixedFields(a) != InstanceSpec::fixedFields(b)) {
      throw MirrorError(op, describe(value) + " does not have the instance layout of " + describe(hold(old)));
    }
  } else if (n.starts_with("Selector")) {
    if (!isSymbol(rt_, v)) throw MirrorError(op, std::string(n) + " must be a Symbol, not " + describe(value));
  } else if (n == "System" && v.isHeapObject() == false) {
    throw MirrorError(op, "System must be an object");
  }
  rt_.setSpecial(s->index, v);
  // Immediates have no class field: their class comes from reserved class-table entries.
  if (n == "ClassSmallInteger") space().classTable().setReservedEntry(space::reserved_class::kSmallInteger, v);
  if (n == "ClassCharacter") space().classTable().setReservedEntry(space::reserved_class::kCharacter, v);
  if (n == "ClassDouble") space().classTable().setReservedEntry(space::reserved_class::kSmallFloat, v);
  afterVmReconfiguration();
}

void SpaceMirror::afterVmReconfiguration() {
  rt_.refreshCaches();
  rt_.classes().invalidateAll();
}

std::vector<std::string> SpaceMirror::verify() const {
  return space::verifyHeap(space()).errors;
}

}  // namespace mop
