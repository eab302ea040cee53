// MirrorBridge: see MirrorBridge.h. The primitives come last; each reads its arguments
// (converting them to guest references and C++ values) before it allocates anything in
// the hypervisor heap, since allocation may move the hypervisor's young objects.
#include "mop/MirrorBridge.h"

#include "mop/MirrorSources.h"
#include "vm/ClassLoader.h"
#include "vm/Globals.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/PrimitiveArguments.h"
#include "vm/Primitives.h"

namespace mop {

using space::LocalRoot;
using space::Oop;
using vm::Interpreter;
using vm::PrimitiveResult;

MirrorBridge::MirrorBridge(vm::Runtime& hypervisor, vm::Runtime& guest, GuestEvaluator evaluate)
    : hv_(hypervisor), guestRuntime_(guest), guest_(guest), evaluate_(std::move(evaluate)) {
  hv_.setExtension(this);
  weakOwner_ =
      hv_.space().weakRegistry().addOwner([this](std::span<const space::WeakRegistry::Token> ids) { released(ids); });
}

MirrorBridge::~MirrorBridge() {
  hv_.space().weakRegistry().removeOwner(weakOwner_);
  hv_.setExtension(nullptr);
}

void MirrorBridge::released(std::span<const space::WeakRegistry::Token> ids) {
  for (space::WeakRegistry::Token id : ids) {
    if (id == 0 || id > handles_.size()) continue;
    handles_[id - 1].reset();
    free_.push_back(size_t(id - 1));
  }
}

Oop MirrorBridge::newMirror(const char* className, size_t id) {
  Oop cls = hv_.globals().at(hv_.symbol(className));
  Oop m = hv_.space().allocate(space::ClassIndex(cls.object()->rawHash()), space::Format::Fixed, 1);
  m.object()->slots()[0] = Oop::fromSmallInteger(int64_t(id));
  hv_.space().weakRegistry().add(m, id, weakOwner_);
  return m;
}

Oop MirrorBridge::toHypervisor(const Ref& guestObject) {
  ESPELL_ASSERT(&guestObject.space() == &guestRuntime_.space(), "a mirror must stand for a guest object");
  Oop g = guestObject.get();
  if (!g.isHeapObject()) return g;  // immediates mean the same in every space
  if (g == guestRuntime_.nil()) return hv_.nil();
  if (g == guestRuntime_.trueObject()) return hv_.trueObject();
  if (g == guestRuntime_.falseObject()) return hv_.falseObject();
  const char* kind = "ObjectMirror";
  space::ClassIndex k = g.object()->classIndex();
  if (vm::isClass(guestRuntime_, g)) {
    kind = "ClassMirror";
  } else if (k == guestRuntime_.known.method || k == guestRuntime_.known.primitive) {
    kind = "MethodMirror";
  } else if (k == guestRuntime_.known.process) {
    kind = "ProcessMirror";
  }
  size_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
    handles_[index] = guestObject;
  } else {
    index = handles_.size();
    handles_.push_back(guestObject);
  }
  return newMirror(kind, index + 1);
}

Ref MirrorBridge::toGuest(Oop v) {
  if (!v.isHeapObject()) return guest_.hold(v);
  if (v == hv_.nil()) return guest_.nil();
  if (v == hv_.trueObject()) return guest_.hold(guestRuntime_.trueObject());
  if (v == hv_.falseObject()) return guest_.hold(guestRuntime_.falseObject());
  Oop mirrorClass = hv_.globals().at(hv_.symbol("Mirror"));
  if (vm::inheritsFrom(hv_, hv_.classOf(v), mirrorClass)) {
    Oop id = v.object()->slot(0);
    if (!id.isSmallInteger() || id.smallInteger() < 1 || size_t(id.smallInteger()) > handles_.size() ||
        !handles_[size_t(id.smallInteger()) - 1].isValid()) {
      throw MirrorError("mirror", "a mirror that stands for nothing");
    }
    return handles_[size_t(id.smallInteger()) - 1];
  }
  if (vm::isSymbol(hv_, v)) return guest_.symbol(vm::bytesOf(v));
  if (vm::isString(hv_, v)) return guest_.string(vm::bytesOf(v));
  if (vm::isDouble(hv_, v)) return guest_.hold(vm::newDouble(guestRuntime_, vm::doubleOf(v)));
  if (vm::isArray(hv_, v)) {
    // Convert the elements first (they may allocate in the guest), then build the Array.
    std::vector<Ref> elements;
    LocalRoot keep(hv_.space().localRoots(), v);
    for (size_t i = 0; i < keep.get().object()->slotCount(); i++)
      elements.push_back(toGuest(keep.get().object()->slot(i)));
    Ref array = guest_.hold(vm::newArray(guestRuntime_, elements.size()));
    for (size_t i = 0; i < elements.size(); i++) guestRuntime_.space().storePointer(array.get(), i, elements[i].get());
    return array;
  }
  throw MirrorError("mirror", "a hypervisor object cannot enter the guest: " + vm::describeObject(hv_, v));
}

std::string MirrorBridge::hvString(Oop o, const char* what) {
  if (!vm::isString(hv_, o)) throw MirrorError("mirror", std::string(what) + " must be a String or Symbol");
  return std::string(vm::bytesOf(o));
}

// ---- primitives ----------------------------------------------------------------------------

namespace primitives {

using namespace vm::prim;

MirrorBridge& bridge(Interpreter& in) {
  return *static_cast<MirrorBridge*>(in.runtime().extension());
}

// Runs `body` (answering the hypervisor result); a refused operation fails the primitive
// with its reason in GuestSpace>>lastError (the method's fallback signals MirrorError).
template <class F>
PrimitiveResult guarded(Interpreter& in, int argc, F&& body) {
  try {
    Oop result = body(bridge(in));
    return in.popThenPush(argc, result);
  } catch (const std::exception& e) {
    bridge(in).setLastError(e.what());
    return kFail;
  }
}

Ref guestArg(Interpreter& in, int argc, int i) {
  return bridge(in).toGuest(arg(in, argc, i));
}

size_t sizeArg(Interpreter& in, int argc, int i, const char* what) {
  Oop v = arg(in, argc, i);
  if (!v.isSmallInteger() || v.smallInteger() < 0)
    throw MirrorError("mirror", std::string(what) + " must be a non-negative SmallInteger");
  return size_t(v.smallInteger());
}

Oop hvStrings(MirrorBridge& b, const std::vector<std::string>& strings) {
  vm::Runtime& hv = b.hypervisor();
  LocalRoot array(hv.space().localRoots(), vm::newArray(hv, strings.size()));
  for (size_t i = 0; i < strings.size(); i++) {
    Oop s = vm::newString(hv, strings[i]);
    hv.space().storePointer(array.get(), i, s);
  }
  return array.get();
}

Oop hvArrayOf(MirrorBridge& b, const std::vector<Oop>& hvValuesOrNull, const std::vector<Ref>& guestValues) {
  // Builds [ v1 v2 ... ]: an entry of hvValuesOrNull that is null is taken from guestValues.
  vm::Runtime& hv = b.hypervisor();
  LocalRoot array(hv.space().localRoots(), vm::newArray(hv, hvValuesOrNull.size()));
  for (size_t i = 0; i < hvValuesOrNull.size(); i++) {
    Oop v = hvValuesOrNull[i].isNull() ? b.toHypervisor(guestValues[i]) : hvValuesOrNull[i];
    hv.space().storePointer(array.get(), i, v);
  }
  return array.get();
}

// primSnapshotTo: directory — a snapshot of the guest (the report's text).
ESPELL_PRIMITIVE(snapshotTo) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::string report = b.snapshot(b.hvString(arg(in, argc, 0), "the image directory"));
    return vm::newString(b.hypervisor(), report);
  });
}

// primHostCommand: jsonText — a command to the host of the hypervisor's program.
ESPELL_PRIMITIVE(hostCommand) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::string answer = b.hostCommand(b.hvString(arg(in, argc, 0), "the command"));
    return vm::newString(b.hypervisor(), answer);
  });
}

ESPELL_PRIMITIVE(lastError) {
  return answerString(in, argc, bridge(in).lastError());
}

ESPELL_PRIMITIVE(classNamed) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::optional<Ref> cls = b.guest().findClass(b.hvString(arg(in, argc, 0), "the class name"));
    return cls ? b.toHypervisor(*cls) : in.runtime().nil();
  });
}

ESPELL_PRIMITIVE(createClass) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::string name = b.hvString(arg(in, argc, 0), "the class name");
    Ref super = guestArg(in, argc, 1);
    Oop names = arg(in, argc, 2);
    std::vector<std::string> fields;
    if (!vm::isArray(in.runtime(), names))
      throw MirrorError("createClass", "the instance variables must be an Array of Strings");
    for (size_t i = 0; i < names.object()->slotCount(); i++)
      fields.push_back(b.hvString(names.object()->slot(i), "an instance variable name"));
    std::string format = b.hvString(arg(in, argc, 3), "the format");
    InstanceFormat f =
        format == "fixed"       ? InstanceFormat::Fixed
        : format == "indexable" ? InstanceFormat::Indexable
        : format == "bytes"     ? InstanceFormat::Bytes
        : format == "words"
            ? InstanceFormat::Words
            : throw MirrorError("createClass", "the format must be #fixed, #indexable, #bytes or #words");
    return b.toHypervisor(b.guest().createClass(name, super, fields, f));
  });
}

ESPELL_PRIMITIVE(removeClass) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    b.guest().removeClass(b.hvString(arg(in, argc, 0), "the class name"));
    return receiver(in, argc);
  });
}

ESPELL_PRIMITIVE(installClass) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    b.guest().installClass(guestArg(in, argc, 0));
    return arg(in, argc, 0);
  });
}

ESPELL_PRIMITIVE(nameOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    return vm::newString(in.runtime(), b.guest().className(guestArg(in, argc, 0)));
  });
}

ESPELL_PRIMITIVE(superclassOf) {
  return guarded(in, argc,
                 [&](MirrorBridge& b) { return b.toHypervisor(b.guest().superclassOf(guestArg(in, argc, 0))); });
}

ESPELL_PRIMITIVE(metaclassOf) {
  return guarded(in, argc,
                 [&](MirrorBridge& b) { return b.toHypervisor(b.guest().metaclassOf(guestArg(in, argc, 0))); });
}

ESPELL_PRIMITIVE(instanceVariableNamesOf) {
  return guarded(in, argc,
                 [&](MirrorBridge& b) { return hvStrings(b, b.guest().instanceVariableNames(guestArg(in, argc, 0))); });
}

ESPELL_PRIMITIVE(selectorsOf) {
  return guarded(in, argc, [&](MirrorBridge& b) { return hvStrings(b, b.guest().selectors(guestArg(in, argc, 0))); });
}

ESPELL_PRIMITIVE(methodOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::optional<Ref> m = b.guest().methodAt(guestArg(in, argc, 0), b.hvString(arg(in, argc, 1), "the selector"));
    return m ? b.toHypervisor(*m) : in.runtime().nil();
  });
}

ESPELL_PRIMITIVE(compile) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::string source = b.hvString(arg(in, argc, 0), "the source");
    return b.toHypervisor(b.guest().compileMethod(guestArg(in, argc, 1), source));
  });
}

ESPELL_PRIMITIVE(install) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    b.guest().installMethod(guestArg(in, argc, 1), guestArg(in, argc, 0));
    return arg(in, argc, 0);
  });
}

ESPELL_PRIMITIVE(removeSelector) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    b.guest().removeMethod(guestArg(in, argc, 1), b.hvString(arg(in, argc, 0), "the selector"));
    return receiver(in, argc);
  });
}

ESPELL_PRIMITIVE(selectorOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    return vm::newString(in.runtime(), b.guest().selectorOf(guestArg(in, argc, 0)));
  });
}

ESPELL_PRIMITIVE(sourceOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    return vm::newString(in.runtime(), b.guest().sourceOf(guestArg(in, argc, 0)));
  });
}

ESPELL_PRIMITIVE(newInstanceOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    size_t n = sizeArg(in, argc, 1, "the size");
    return b.toHypervisor(b.guest().newInstance(guestArg(in, argc, 0), n));
  });
}

ESPELL_PRIMITIVE(allInstancesOf) {
  return guarded(in, argc,
                 [&](MirrorBridge& b) { return b.toHypervisor(b.guest().allInstances(guestArg(in, argc, 0))); });
}

ESPELL_PRIMITIVE(classOf) {
  return guarded(in, argc, [&](MirrorBridge& b) { return b.toHypervisor(b.guest().classOf(guestArg(in, argc, 0))); });
}

ESPELL_PRIMITIVE(setClassOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    b.guest().setClass(guestArg(in, argc, 0), guestArg(in, argc, 1));
    return arg(in, argc, 0);
  });
}

Ref slotRead(MirrorBridge& b, Interpreter& in, int argc) {
  Ref object = guestArg(in, argc, 0);
  Oop key = arg(in, argc, 1);
  if (key.isSmallInteger()) {
    if (key.smallInteger() < 1) throw MirrorError("slotAt", "field indexes start at 1");
    return b.guest().slotAt(object, size_t(key.smallInteger()));
  }
  return b.guest().slotAt(object, b.hvString(key, "the field"));
}

ESPELL_PRIMITIVE(slotAt) {
  return guarded(in, argc, [&](MirrorBridge& b) { return b.toHypervisor(slotRead(b, in, argc)); });
}

ESPELL_PRIMITIVE(slotAtPut) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    Ref object = guestArg(in, argc, 0);
    Ref value = guestArg(in, argc, 2);
    Oop key = arg(in, argc, 1);
    if (key.isSmallInteger()) {
      if (key.smallInteger() < 1) throw MirrorError("slotAtPut", "field indexes start at 1");
      b.guest().slotAtPut(object, size_t(key.smallInteger()), value);
    } else {
      b.guest().slotAtPut(object, b.hvString(key, "the field"), value);
    }
    return arg(in, argc, 2);
  });
}

ESPELL_PRIMITIVE(sizeOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    return Oop::fromSmallInteger(int64_t(b.guest().sizeOf(guestArg(in, argc, 0))));
  });
}

ESPELL_PRIMITIVE(elementAt) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    size_t i = sizeArg(in, argc, 1, "the index");
    return b.toHypervisor(b.guest().at(guestArg(in, argc, 0), i));
  });
}

ESPELL_PRIMITIVE(stringOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::optional<std::string> s = b.guest().stringValue(guestArg(in, argc, 0));
    return s ? vm::newString(in.runtime(), *s) : in.runtime().nil();
  });
}

ESPELL_PRIMITIVE(describe) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    return vm::newString(in.runtime(), b.guest().describe(guestArg(in, argc, 0)));
  });
}

ESPELL_PRIMITIVE(same) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    return in.runtime().boolean(b.guest().same(guestArg(in, argc, 0), guestArg(in, argc, 1)));
  });
}

ESPELL_PRIMITIVE(identityHashOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    Ref r = guestArg(in, argc, 0);
    Oop o = r.get();
    return Oop::fromSmallInteger(o.isHeapObject() ? int64_t(b.guest().space().identityHash(o))
                                                  : int64_t(o.bits() & 0x3fffffff));
  });
}

ESPELL_PRIMITIVE(swap) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    b.guest().swapIdentities(guestArg(in, argc, 0), guestArg(in, argc, 1));
    return receiver(in, argc);
  });
}

ESPELL_PRIMITIVE(become) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    b.guest().becomeForward(guestArg(in, argc, 0), guestArg(in, argc, 1));
    return receiver(in, argc);
  });
}

// A hypervisor Array of process mirrors for `views`.
Oop processArray(MirrorBridge& b, std::vector<ProcessView> views) {
  std::vector<Ref> refs;
  for (ProcessView& v : views) refs.push_back(v.process);
  return hvArrayOf(b, std::vector<Oop>(refs.size()), refs);
}

ESPELL_PRIMITIVE(processes) {
  return guarded(in, argc, [&](MirrorBridge& b) { return processArray(b, b.guest().processes()); });
}

// primProcessesNow — the same without the full collection (processesWithoutCollecting):
// cheap enough for a tool that looks at a busy guest in a short pause.
ESPELL_PRIMITIVE(processesNow) {
  return guarded(in, argc, [&](MirrorBridge& b) { return processArray(b, b.guest().processesWithoutCollecting()); });
}

const char* statusName(ProcessStatus s) {
  switch (s) {
    case ProcessStatus::Running:
      return "running";
    case ProcessStatus::Ready:
      return "ready";
    case ProcessStatus::Waiting:
      return "waiting";
    case ProcessStatus::Suspended:
      return "suspended";
    case ProcessStatus::Paused:
      return "paused";
    case ProcessStatus::Terminated:
      return "terminated";
    case ProcessStatus::Terminating:
      return "terminating";
  }
  return "unknown";
}

ESPELL_PRIMITIVE(processInfoOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    ProcessView v = b.guest().viewOf(guestArg(in, argc, 0));
    vm::Runtime& hv = in.runtime();
    LocalRoot array(hv.space().localRoots(), vm::newArray(hv, 3));
    Oop name = vm::newString(hv, v.name);
    hv.space().storePointer(array.get(), 0, name);
    array.get().object()->slots()[1] = Oop::fromSmallInteger(v.priority);
    hv.space().storePointer(array.get(), 2, hv.symbol(statusName(v.status)));
    return array.get();
  });
}

ESPELL_PRIMITIVE(framesOf) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::vector<FrameView> frames = b.guest().frames(guestArg(in, argc, 0));
    vm::Runtime& hv = in.runtime();
    LocalRoot array(hv.space().localRoots(), vm::newArray(hv, frames.size()));
    for (size_t i = 0; i < frames.size(); i++) {
      const FrameView& f = frames[i];
      Oop info = hvArrayOf(b,
                           {Oop(), Oop(), Oop(), Oop(), Oop::fromSmallInteger(f.pc), Oop::fromSmallInteger(f.line),
                            hv.nil(), hv.nil(), hv.nil(), hv.nil()},
                           {b.guest().string(f.selector), b.guest().string(f.description), f.method, f.receiver, Ref(),
                            Ref(), Ref(), Ref(), Ref(), Ref()});
      LocalRoot keep(hv.space().localRoots(), info);
      // Selector and description are copied as hypervisor Strings, not mirrors.
      Oop selector = vm::newString(hv, f.selector);
      hv.space().storePointer(keep.get(), 0, selector);
      Oop description = vm::newString(hv, f.description);
      hv.space().storePointer(keep.get(), 1, description);
      // Arguments, temporaries and receiver as descriptions (which run no guest code): a
      // tool shows a frame's values at a glance without a mirror for each of them.
      auto describeAll = [&](const std::vector<Ref>& values) {
        std::vector<std::string> texts;
        for (const Ref& v : values) texts.push_back(b.guest().describe(v));
        return texts;
      };
      Oop arguments = hvStrings(b, describeAll(f.arguments));
      hv.space().storePointer(keep.get(), 6, arguments);
      Oop temporaries = hvStrings(b, describeAll(f.temporaries));
      hv.space().storePointer(keep.get(), 7, temporaries);
      Oop receiver = vm::newString(hv, b.guest().describe(f.receiver));
      hv.space().storePointer(keep.get(), 8, receiver);
      Oop names = hvStrings(b, f.valueNames);
      hv.space().storePointer(keep.get(), 9, names);
      hv.space().storePointer(array.get(), i, keep.get());
    }
    return array.get();
  });
}

ESPELL_PRIMITIVE(createProcess) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::string selector = b.hvString(arg(in, argc, 0), "the selector");
    Ref receiverRef = guestArg(in, argc, 1);
    Ref args = guestArg(in, argc, 2);
    Oop priority = arg(in, argc, 3);
    if (!priority.isSmallInteger()) throw MirrorError("createProcess", "the priority must be a SmallInteger");
    return b.toHypervisor(b.guest().createProcess(receiverRef, selector, args, int(priority.smallInteger())));
  });
}

ESPELL_PRIMITIVE(installProcess) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    b.guest().installProcess(guestArg(in, argc, 0));
    return arg(in, argc, 0);
  });
}

ESPELL_PRIMITIVE(terminate) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    b.guest().terminateProcess(guestArg(in, argc, 0));
    return arg(in, argc, 0);
  });
}

ESPELL_PRIMITIVE(unwind) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    size_t depth = sizeArg(in, argc, 1, "the frame depth");
    b.guest().unwindTo(guestArg(in, argc, 0), depth, guestArg(in, argc, 2));
    return arg(in, argc, 0);
  });
}

ESPELL_PRIMITIVE(restart) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    size_t depth = sizeArg(in, argc, 1, "the frame depth");
    std::optional<Ref> method;
    if (arg(in, argc, 2) != in.runtime().nil()) method = guestArg(in, argc, 2);
    b.guest().restartFrame(guestArg(in, argc, 0), depth, method);
    return arg(in, argc, 0);
  });
}

ESPELL_PRIMITIVE(insertFrame) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::string selector = b.hvString(arg(in, argc, 2), "the selector");
    b.guest().insertFrame(guestArg(in, argc, 0), guestArg(in, argc, 1), selector, guestArg(in, argc, 3));
    return arg(in, argc, 0);
  });
}

ESPELL_PRIMITIVE(classNames) {
  return guarded(in, argc, [&](MirrorBridge& b) { return hvStrings(b, b.guest().classNames()); });
}

// [searched, class, side, selector, source, class, side, ...]: see GuestSpace>>searchSources:limit:.
ESPELL_PRIMITIVE(searchSources) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::string text = b.hvString(arg(in, argc, 0), "the text to look for");
    size_t limit = sizeArg(in, argc, 1, "the limit");
    if (text.empty()) throw MirrorError("searchSources", "the text to look for is empty");
    SpaceMirror::SourceSearch found = b.guest().searchSources(text, limit);
    vm::Runtime& hv = b.hypervisor();
    LocalRoot array(hv.space().localRoots(), vm::newArray(hv, 1 + 4 * found.matches.size()));
    hv.space().storePointer(array.get(), 0, Oop::fromSmallInteger(int64_t(found.methodsSearched)));
    size_t i = 1;
    auto put = [&](std::string_view text) {
      Oop string = vm::newString(hv, text);  // may collect: the array is read after it
      hv.space().storePointer(array.get(), i++, string);
    };
    for (const SpaceMirror::SourceMatch& m : found.matches) {
      put(m.className);
      put(m.classSide ? "class" : "instance");
      put(m.selector);
      put(m.source);
    }
    return array.get();
  });
}

ESPELL_PRIMITIVE(specialObjectNames) {
  return guarded(in, argc, [&](MirrorBridge& b) { return hvStrings(b, SpaceMirror::specialObjectNames()); });
}

ESPELL_PRIMITIVE(specialObject) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    return b.toHypervisor(b.guest().specialObject(b.hvString(arg(in, argc, 0), "the name")));
  });
}

ESPELL_PRIMITIVE(setSpecialObject) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    b.guest().setSpecialObject(b.hvString(arg(in, argc, 0), "the name"), guestArg(in, argc, 1));
    return arg(in, argc, 1);
  });
}

ESPELL_PRIMITIVE(evaluate) {
  return guarded(in, argc, [&](MirrorBridge& b) {
    std::string source = b.hvString(arg(in, argc, 0), "the source");
    space::Handle result = b.evaluate(source);
    return b.toHypervisor(result);
  });
}

ESPELL_PRIMITIVE(verify) {
  return guarded(in, argc, [&](MirrorBridge& b) { return hvStrings(b, b.guest().verify()); });
}

}  // namespace primitives

std::string MirrorBridge::snapshot(const std::string& directory) {
  if (!snapshot_) throw MirrorError("snapshot", "this VM takes no snapshots of its guest");
  return snapshot_(directory);
}

std::string MirrorBridge::hostCommand(const std::string& requestJson) {
  if (!hostCommand_) throw MirrorError("host", "this VM serves no hypervisor program");
  return hostCommand_(requestJson);
}

void MirrorBridge::install() {
  using namespace primitives;
  vm::PrimitiveTable& t = hv_.mutablePrimitives();
  const std::pair<const char*, vm::PrimitiveFunction> primitives[] = {
      {"lastError", primitives::lastError},
      {"primClassNamed:", classNamed},
      {"primCreateClass:superclass:instanceVariables:format:", createClass},
      {"primRemoveClass:", removeClass},
      {"primInstallClass:", installClass},
      {"primNameOf:", nameOf},
      {"primSuperclassOf:", superclassOf},
      {"primMetaclassOf:", metaclassOf},
      {"primInstanceVariableNamesOf:", instanceVariableNamesOf},
      {"primSelectorsOf:", selectorsOf},
      {"primMethodOf:at:", methodOf},
      {"primCompile:in:", compile},
      {"primInstall:in:", primitives::install},
      {"primRemoveSelector:from:", removeSelector},
      {"primSelectorOf:", selectorOf},
      {"primSourceOf:", sourceOf},
      {"primNewInstanceOf:size:", newInstanceOf},
      {"primAllInstancesOf:", allInstancesOf},
      {"primClassOf:", classOf},
      {"primSetClassOf:to:", setClassOf},
      {"primSlotOf:at:", slotAt},
      {"primSlotOf:at:put:", slotAtPut},
      {"primSizeOf:", sizeOf},
      {"primElementOf:at:", elementAt},
      {"primStringOf:", stringOf},
      {"primDescribe:", describe},
      {"primSame:as:", same},
      {"primIdentityHashOf:", identityHashOf},
      {"primSwap:with:", swap},
      {"primBecome:forwardTo:", become},
      {"primProcesses", processes},
      {"primProcessesNow", processesNow},
      {"primProcessInfoOf:", processInfoOf},
      {"primFramesOf:", framesOf},
      {"primCreateProcessSending:to:arguments:priority:", createProcess},
      {"primInstallProcess:", installProcess},
      {"primTerminate:", terminate},
      {"primUnwind:to:value:", unwind},
      {"primRestart:at:with:", restart},
      {"primInsertFrameIn:receiver:selector:arguments:", insertFrame},
      {"primSpecialObjectNames", specialObjectNames},
      {"primSpecialObject:", specialObject},
      {"primSpecialObject:put:", setSpecialObject},
      {"primEvaluate:", primitives::evaluate},
      {"primVerify", verify},
      {"primSnapshotTo:", snapshotTo},
      {"primHostCommand:", primitives::hostCommand},
      {"primClassNames", classNames},
      {"primSearchSources:limit:", searchSources},
  };
  for (const auto& [selector, fn] : primitives) t.add(std::string("GuestSpace>>") + selector, fn);
  for (const vm::KernelSource& source : mirrorSources()) {
    hv_.loader().loadSource(source.source, std::string("mop/smalltalk/") + source.name + ".som");
  }
  Oop cls = hv_.globals().at(hv_.symbol("GuestSpace"));
  Oop guest =
      hv_.space().allocate(space::ClassIndex(cls.object()->rawHash()), space::Format::Empty, 0, space::Tenure::Old);
  hv_.globals().atPut(hv_.symbol("Guest"), guest);
}

}  // namespace mop
