// Bootstrap: turns an empty space into a running kernel.
//   1. Create the classes the VM knows (and their metaclasses) by hand, in the class table.
//   2. Wire their superclasses, metaclasses, formats; nil/true/false and the immediates.
//   3. Name them and list their fields (symbols and arrays exist from here on).
//   4. Bind them as globals and fill the special objects (classes, selectors).
//   5. Compile the kernel library (vm/kernel/*.som) in superclass order.
//   6. Create 'system' and 'Processor', then cache class indexes and fast-path guards.
//   7. Make the global bindings the kernel relies on read-only (protectKernelBindings).
#include <map>
#include <stdexcept>

#include "vm/ClassBuilder.h"
#include "vm/ClassLoader.h"
#include "vm/Interpreter.h"
#include "vm/KernelSources.h"
#include "vm/MethodCache.h"
#include "vm/MethodDictionary.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/Runtime.h"
#include "vm/Scheduler.h"
#include "vm/compiler/Parser.h"

namespace vm {

using space::Format;
using space::LocalRoot;
using space::Tenure;

namespace {

struct CoreClass {
  size_t special;
  const char* name;
  const char* superclass;  // nullptr: none
  Format format;
  std::vector<std::string> fields;  // own fields, in slot order (ObjectLayouts.h)
  VmMaintained vm;                  // what the VM maintains in instances (ObjectLayouts.h)
};

// Classes whose instances are ordinary objects.
constexpr VmMaintained kOrdinary{};
// The VmMaintained of classes whose instances the VM makes, with their first [fields]
// named fields and, when [indexed], their indexed slots.
constexpr VmMaintained madeByVm(unsigned fields = 0, bool indexed = false) {
  return VmMaintained{true, fields, indexed};
}
// Classes whose instances anyone makes but whose first [fields] fields the VM reads.
constexpr VmMaintained maintainedFields(unsigned fields) {
  return VmMaintained{false, fields, false};
}
// Classes of classes: instances are made by class definitions; the VM reads their fields.
constexpr VmMaintained kClassInstances = madeByVm(unsigned(class_slot::kCount));

const std::vector<CoreClass>& coreClasses() {
  using namespace special;
  static const std::vector<CoreClass> classes = {
      {kClassObject, "Object", nullptr, Format::Fixed, {}, kOrdinary},
      {kClassClass,
       "Class",
       "Object",
       Format::Fixed,
       {"superclass", "methodDictionary", "instanceSpec", "instanceVariables", "name", "thisClassOrOrganization"},
       kClassInstances},
      {kClassMetaclass, "Metaclass", "Class", Format::Fixed, {}, kClassInstances},
      {kClassNil, "Nil", "Object", Format::Fixed, {}, madeByVm()},
      {kClassBoolean, "Boolean", "Object", Format::Fixed, {}, madeByVm()},
      {kClassTrue, "True", "Boolean", Format::Fixed, {}, madeByVm()},
      {kClassFalse, "False", "Boolean", Format::Fixed, {}, madeByVm()},
      {kClassSmallInteger, "Integer", "Object", Format::Words, {}, madeByVm()},
      {kClassDouble, "Double", "Object", Format::Words, {}, madeByVm()},
      {kClassCharacter, "Character", "Object", Format::Fixed, {}, madeByVm()},
      {kClassString, "String", "Object", Format::Bytes, {}, kOrdinary},
      {kClassSymbol, "Symbol", "String", Format::Bytes, {}, madeByVm()},
      {kClassArray, "Array", "Object", Format::Indexable, {}, kOrdinary},
      {kClassByteArray, "ByteArray", "Object", Format::Bytes, {}, kOrdinary},
      {kClassMethod,
       "Method",
       "Object",
       Format::CompiledCode,
       {"header", "signature", "holder", "bytecodes", "literals", "sendSites", "quick", "debugInfo"},
       madeByVm(unsigned(code_slot::kCount))},
      {kClassPrimitive, "Primitive", "Method", Format::CompiledCode, {}, madeByVm(unsigned(code_slot::kCount))},
      {kClassCompiledBlock, "CompiledBlock", "Method", Format::CompiledCode, {}, madeByVm(unsigned(code_slot::kCount))},
      {kClassBlock,
       "Block",
       "Object",
       Format::FixedIndexable,
       {"code", "outerContext", "receiver"},
       madeByVm(unsigned(closure_slot::kFirstCopied), true)},
      {kClassBlock1,
       "Block1",
       "Block",
       Format::FixedIndexable,
       {},
       madeByVm(unsigned(closure_slot::kFirstCopied), true)},
      {kClassBlock2,
       "Block2",
       "Block",
       Format::FixedIndexable,
       {},
       madeByVm(unsigned(closure_slot::kFirstCopied), true)},
      {kClassBlock3,
       "Block3",
       "Block",
       Format::FixedIndexable,
       {},
       madeByVm(unsigned(closure_slot::kFirstCopied), true)},
      {kClassBlock4,
       "Block4",
       "Block",
       Format::FixedIndexable,
       {},
       madeByVm(unsigned(closure_slot::kFirstCopied), true)},
      {kClassContext,
       "Context",
       "Object",
       Format::Fixed,
       {"process", "frame"},
       madeByVm(unsigned(context_slot::kCount))},
      {kClassProcess,
       "Process",
       "Object",
       Format::Fixed,
       {"nextLink", "stack", "priority", "myList", "name", "state"},
       madeByVm(unsigned(process_slot::kCount))},
      {kClassProcessStack, "ProcessStack", "Object", Format::Stack, {}, madeByVm()},
      {kClassLinkedList,
       "LinkedList",
       "Object",
       Format::Fixed,
       {"firstLink", "lastLink"},
       maintainedFields(unsigned(list_slot::kLastLink) + 1)},
      {kClassSemaphore,
       "Semaphore",
       "LinkedList",
       Format::Fixed,
       {"excessSignals"},
       maintainedFields(unsigned(list_slot::kExcessSignals) + 1)},
      {kClassProcessorScheduler,
       "ProcessorScheduler",
       "Object",
       Format::Fixed,
       {"readyLists", "activeProcess", "pausedProcesses", "exclusiveProcess"},
       madeByVm(unsigned(scheduler_slot::kCount))},
      {kClassAssociation, "Association", "Object", Format::Fixed, {"key", "value"}, kOrdinary},
      {kClassMethodDictionary, "MethodDictionary", "Object", Format::FixedIndexable, {"tally"}, madeByVm(1, true)},
      {kClassSystem, "System", "Object", Format::Fixed, {}, madeByVm()},
  };
  return classes;
}

// Marks [code]'s global bindings, and those of the blocks inside it, immutable.
void protectBindingsOf(Runtime& rt, Oop code) {
  Oop literals = code.object()->slot(code_slot::kLiterals);
  for (size_t i = 0; i < literals.object()->slotCount(); i++) {
    Oop l = literals.object()->slot(i);
    if (!l.isHeapObject()) continue;
    if (l.object()->classIndex() == rt.known.association) l.object()->setImmutable(true);
    if (l.object()->classIndex() == rt.known.compiledBlock) protectBindingsOf(rt, l);
  }
}

// 7. The globals the kernel library reads (its methods' bindings), the VM's classes and
// nil, true, false, system and Processor become read-only for programs: rebinding one
// would break the kernel, down to the reporting of errors (System>>global:put: and the
// compiler refuse; class loading and the mirror protocol still set them).
void protectKernelBindings(Runtime& rt) {
  space::Space& sp = rt.space();
  sp.classTable().forEachClass([&](space::ClassIndex, Oop c) {
    if (!isClass(rt, c)) return;
    Oop dict = c.object()->slot(class_slot::kMethodDictionary);
    if (!dict.isHeapObject() || dict.object()->classIndex() != rt.known.methodDictionary) return;
    method_dictionary::forEach(sp, dict, [&](Oop, Oop method) { protectBindingsOf(rt, method); });
  });
  std::vector<std::string> names{"nil", "true", "false", "system", "Processor"};
  for (const CoreClass& c : coreClasses()) names.push_back(c.name);
  for (const std::string& name : names) {
    Oop binding = rt.globals().binding(rt.symbol(name));
    if (!binding.isNull()) binding.object()->setImmutable(true);
  }
}

}  // namespace

void Runtime::bootstrap() {
  bootstrapping_ = true;
  space::Space& sp = space_;
  const auto& core = coreClasses();
  std::map<std::string, size_t> byName;
  for (size_t i = 0; i < core.size(); i++) byName[core[i].name] = i;

  // 1. Class and metaclass objects (old space: they never move).
  std::vector<Oop> classes(core.size()), metas(core.size());
  for (size_t i = 0; i < core.size(); i++) {
    Oop meta = sp.allocate(space::reserved_class::kInvalid, Format::Fixed, class_slot::kCount, Tenure::Old);
    LocalRoot m(sp.localRoots(), meta);
    space::ClassIndex metaIndex = sp.classTable().registerClass(meta);
    Oop cls = sp.allocate(metaIndex, Format::Fixed, class_slot::kCount, Tenure::Old);
    sp.classTable().registerClass(cls);
    metas[i] = m.get();
    classes[i] = cls;
    setSpecial(core[i].special, cls);                                     // keeps them alive from here on
    sp.storePointer(cls, class_slot::kThisClassOrOrganization, m.get());  // temporarily
  }
  for (size_t i = 0; i < core.size(); i++) {
    classes[i] = special(core[i].special);
    metas[i] = classes[i].object()->slot(class_slot::kThisClassOrOrganization);
    classes[i].object()->slots()[class_slot::kThisClassOrOrganization] = nil_;
  }
  auto coreClass = [&](const char* name) { return classes[byName.at(name)]; };

  // 2. Wiring.
  space::ClassIndex metaclassIndex = space::ClassIndex(coreClass("Metaclass").object()->rawHash());
  std::vector<size_t> fieldCount(core.size());
  for (size_t i = 0; i < core.size(); i++) {
    size_t inherited = core[i].superclass ? fieldCount[byName.at(core[i].superclass)] : 0;
    fieldCount[i] = inherited + core[i].fields.size();
    Oop cls = classes[i], meta = metas[i];
    meta.object()->setClassIndex(metaclassIndex);
    Oop super = core[i].superclass ? coreClass(core[i].superclass) : nil_;
    Oop superMeta = core[i].superclass ? metas[byName.at(core[i].superclass)] : coreClass("Class");
    sp.storePointer(cls, class_slot::kSuperclass, super);
    sp.storePointer(meta, class_slot::kSuperclass, superMeta);
    sp.storePointer(meta, class_slot::kThisClassOrOrganization, cls);
    cls.object()->slots()[class_slot::kInstanceSpec] =
        Oop::fromSmallInteger(InstanceSpec::pack(uint8_t(core[i].format), fieldCount[i], core[i].vm));
    meta.object()->slots()[class_slot::kInstanceSpec] =
        Oop::fromSmallInteger(InstanceSpec::pack(uint8_t(Format::Fixed), class_slot::kCount, kClassInstances));
  }
  refreshCaches();
  known.largeInteger = space::ClassIndex(coreClass("Integer").object()->rawHash());
  setSpecial(special::kClassLargeInteger, coreClass("Integer"));
  sp.setArrayClassIndex(known.array);
  sp.symbols().setSymbolClassIndex(known.symbol);
  nil_.object()->setClassIndex(space::ClassIndex(coreClass("Nil").object()->rawHash()));
  true_.object()->setClassIndex(space::ClassIndex(coreClass("True").object()->rawHash()));
  false_.object()->setClassIndex(space::ClassIndex(coreClass("False").object()->rawHash()));
  sp.classTable().setReservedEntry(space::reserved_class::kSmallInteger, coreClass("Integer"));
  sp.classTable().setReservedEntry(space::reserved_class::kCharacter, coreClass("Character"));
  sp.classTable().setReservedEntry(space::reserved_class::kSmallFloat, coreClass("Double"));

  // 3. Names and field lists.
  std::vector<std::string> classFields = core[byName.at("Class")].fields;
  for (size_t i = 0; i < core.size(); i++) {
    std::vector<std::string> all;
    for (const char* c = core[i].name; c; c = core[byName.at(c)].superclass) {
      const auto& own = core[byName.at(c)].fields;
      all.insert(all.begin(), own.begin(), own.end());
    }
    Oop cls = special(core[i].special);
    LocalRoot keep(sp.localRoots(), cls);
    Oop name = symbol(core[i].name);
    sp.storePointer(keep.get(), class_slot::kName, name);
    LocalRoot fields(sp.localRoots(), newArray(*this, all.size(), Tenure::Old));
    for (size_t k = 0; k < all.size(); k++) {
      Oop s = symbol(all[k]);
      sp.storePointer(fields.get(), k, s);
    }
    sp.storePointer(keep.get(), class_slot::kInstanceVariables, fields.get());
    LocalRoot metaFields(sp.localRoots(), newArray(*this, classFields.size(), Tenure::Old));
    for (size_t k = 0; k < classFields.size(); k++) {
      Oop s = symbol(classFields[k]);
      sp.storePointer(metaFields.get(), k, s);
    }
    sp.storePointer(classes_->metaclassOf(keep.get()), class_slot::kInstanceVariables, metaFields.get());
  }

  // 4. Globals and special objects.
  Oop undefined = sp.allocate(known.object, Format::Fixed, 0, Tenure::Old);
  setSpecial(special::kUndefinedGlobal, undefined);
  globals_.initialize(1024);
  for (size_t i = 0; i < core.size(); i++) classes_->installGlobal(special(core[i].special));
#define ESPELL_INTERN_SELECTOR(name, text)            \
  if (std::string(#name).rfind("Selector", 0) == 0) { \
    Oop sel = symbol(text);                           \
    setSpecial(special::k##name, sel);                \
  }
  ESPELL_VM_SPECIAL_OBJECTS(ESPELL_INTERN_SELECTOR)
#undef ESPELL_INTERN_SELECTOR
  globals_.atPut(symbol("nil"), nil_);
  globals_.atPut(symbol("true"), true_);
  globals_.atPut(symbol("false"), false_);

  // 5. The kernel library, superclasses first.
  std::vector<std::unique_ptr<ClassNode>> pending;
  for (const KernelSource& k : kernelSources()) {
    Parser parser(k.source, std::string("kernel/") + k.name + ".som");
    pending.push_back(parser.parseClass());
  }
  while (!pending.empty()) {
    bool progress = false;
    for (size_t i = 0; i < pending.size();) {
      ClassNode& node = *pending[i];
      std::string super = node.superclassName.empty() ? "Object" : node.superclassName;
      bool ready = super == "nil" || globals_.isDefined(symbol(super));
      if (!ready) {
        i++;
        continue;
      }
      Oop cls = classes_->defineClass(node);
      classes_->installGlobal(cls);
      pending.erase(pending.begin() + long(i));
      progress = true;
    }
    if (!progress) {
      throw std::runtime_error("kernel: superclass of " + pending.front()->name + " (" +
                               pending.front()->superclassName + ") is not defined");
    }
  }
  // Library classes a program brings on its class path replace the kernel's, as on other
  // SOM VMs (e.g. Are-We-Fast-Yet's Vector): leave their globals undefined so the first
  // reference loads the program's file. Kernel subclasses keep the kernel superclass.
  static const char* const kShadowable[] = {"Vector",      "Pair",
                                            "Dictionary",  "Set",
                                            "IdentitySet", "IdentityDictionary",
                                            "Hashtable",   "OrderedCollection",
                                            "Interval",    "Point",
                                            "ReadStream",  "WriteStream"};
  for (const char* name : kShadowable) {
    if (loader_->findFile(name)) globals_.undefine(symbol(name));
  }
  // The kernel sources must declare exactly the fields the VM relies on.
  for (size_t i = 0; i < core.size(); i++) {
    Oop bound = globals_.at(symbol(core[i].name));
    if (bound != special(core[i].special)) {
      throw std::runtime_error(std::string("kernel: ") + core[i].name +
                               ".som does not match the VM's layout of that class (fields or superclass)");
    }
  }

  // 6. The system objects.
  Oop system =
      sp.allocate(space::ClassIndex(special(special::kClassSystem).object()->rawHash()), Format::Fixed, 0, Tenure::Old);
  setSpecial(special::kSystem, system);
  globals_.atPut(symbol("system"), system);
  scheduler_->initialize();
  globals_.atPut(symbol("Processor"), special(special::kProcessor));
  protectKernelBindings(*this);
  refreshCaches();
  methodCache_->flush();
  interpreter_->refreshGuards();
  bootstrapping_ = false;
}

}  // namespace vm
