// Class primitives: instantiation and class reflection (name, superclass, fields, methods).
#include <algorithm>

#include "vm/ClassBuilder.h"
#include "vm/MethodDictionary.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

// Allocates an instance of `cls` with `indexable` indexable slots/bytes; null on failure
// (Class>>cannotInstantiate: says why). Classes whose instances the VM makes are refused:
// a closure, process or method made by new would have none of the structure the VM reads.
Oop instantiate(Interpreter& in, Oop cls, size_t indexable, bool indexed) {
  Runtime& rt = in.runtime();
  if (!isClass(rt, cls)) return Oop();
  int64_t spec = cls.object()->slot(class_slot::kInstanceSpec).smallInteger();
  if (InstanceSpec::maintained(spec).creation) return Oop();
  space::Format f = space::Format(InstanceSpec::format(spec));
  size_t fixed = InstanceSpec::fixedFields(spec);
  space::ClassIndex index = space::ClassIndex(cls.object()->rawHash());
  // Also when a replacement class of those (set through the mirror protocol) says otherwise.
  if (index == rt.known.doubleClass || index == rt.known.largeInteger) return Oop();
  switch (f) {
    case space::Format::Empty:
    case space::Format::Fixed:
      if (indexed) return Oop();
      return in.space().allocate(index, space::Format::Fixed, fixed);
    case space::Format::Indexable:
    case space::Format::FixedIndexable:
      return in.space().allocate(index, fixed > 0 ? space::Format::FixedIndexable : space::Format::Indexable,
                                 fixed + indexable);
    case space::Format::Words:
      return in.space().allocateWords(index, indexable);
    default:
      if (space::formatIsBytes(f)) {
        Oop o = in.space().allocateBytes(index, indexable);
        o.object()->setKnownAscii(true);  // zero bytes: an all-ASCII String
        return o;
      }
      return Oop();
  }
}

ESPELL_PRIMITIVE(classNew) {
  Oop o = instantiate(in, receiver(in, argc), 0, false);
  if (o.isNull()) {
    // Indexable classes answer an empty instance to plain #new.
    o = instantiate(in, receiver(in, argc), 0, true);
    if (o.isNull()) return kFail;
  }
  return answer(in, argc, o);
}

ESPELL_PRIMITIVE(classNewSized) {
  Oop n = arg(in, argc, 0);
  if (!n.isSmallInteger() || n.smallInteger() < 0 || n.smallInteger() > (int64_t(1) << 40)) return kFail;
  Oop o = instantiate(in, receiver(in, argc), size_t(n.smallInteger()), true);
  if (o.isNull()) return kFail;
  return answer(in, argc, o);
}

// Whether only the VM makes instances of the receiver (see VmMaintained).
ESPELL_PRIMITIVE(classInstancesAreMadeByVm) {
  Oop c = receiver(in, argc);
  if (!isClass(in.runtime(), c)) return kFail;
  return answerBool(in, argc,
                    InstanceSpec::maintained(c.object()->slot(class_slot::kInstanceSpec).smallInteger()).creation);
}

ESPELL_PRIMITIVE(classVmMaintainedFields) {
  Oop c = receiver(in, argc);
  if (!isClass(in.runtime(), c)) return kFail;
  return answerInt(in, argc,
                   InstanceSpec::maintained(c.object()->slot(class_slot::kInstanceSpec).smallInteger()).fields);
}

ESPELL_PRIMITIVE(classInstancesAreIndexable) {
  Oop c = receiver(in, argc);
  if (!isClass(in.runtime(), c)) return kFail;
  int64_t spec = c.object()->slot(class_slot::kInstanceSpec).smallInteger();
  return answerBool(in, argc, space::formatIsIndexable(space::Format(InstanceSpec::format(spec))));
}

ESPELL_PRIMITIVE(className) {
  Runtime& rt = in.runtime();
  Oop c = receiver(in, argc);
  if (!isClass(rt, c)) return kFail;
  if (c.object()->classIndex() == rt.known.metaclass) return answer(in, argc, rt.symbol(className(rt, c)));
  return answer(in, argc, c.object()->slot(class_slot::kName));
}

ESPELL_PRIMITIVE(classSuperclass) {
  Oop c = receiver(in, argc);
  if (!isClass(in.runtime(), c)) return kFail;
  return answer(in, argc, c.object()->slot(class_slot::kSuperclass));
}

ESPELL_PRIMITIVE(classFields) {
  Oop c = receiver(in, argc);
  if (!isClass(in.runtime(), c)) return kFail;
  Oop copy = in.space().shallowCopy(c.object()->slot(class_slot::kInstanceVariables));
  return answer(in, argc, copy);
}

ESPELL_PRIMITIVE(classMethods) {
  Runtime& rt = in.runtime();
  Oop c = receiver(in, argc);
  if (!isClass(rt, c)) return kFail;
  // In source order: by the line each method starts at (methods are old: stable oops).
  std::vector<std::pair<int, Oop>> methods;
  method_dictionary::forEach(in.space(), c.object()->slot(class_slot::kMethodDictionary), [&](Oop, Oop m) {
    int line = 0;
    Oop debug = m.object()->slot(code_slot::kDebugInfo);
    if (isArray(rt, debug) && debug.object()->slotCount() >= 2) {
      Oop table = debug.object()->slot(1);
      if (table.isHeapObject() && table.object()->byteLength() >= 4) {
        const uint8_t* b = table.object()->bytes();
        line = b[2] | (b[3] << 8);
      }
    }
    methods.push_back({line, m});
  });
  std::stable_sort(methods.begin(), methods.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Oop arr = newArray(rt, methods.size());
  for (size_t i = 0; i < methods.size(); i++) in.space().storePointer(arr, i, methods[i].second);
  return answer(in, argc, arr);
}

ESPELL_PRIMITIVE(classIncludesSelector) {
  Runtime& rt = in.runtime();
  Oop c = receiver(in, argc), sel = arg(in, argc, 0);
  if (!isClass(rt, c) || !isSymbol(rt, sel)) return kFail;
  return answerBool(in, argc, !rt.classes().lookupLocal(c, sel).isNull());
}

ESPELL_PRIMITIVE(classLookup) {
  Runtime& rt = in.runtime();
  Oop c = receiver(in, argc), sel = arg(in, argc, 0);
  if (!isClass(rt, c) || !isSymbol(rt, sel)) return kFail;
  Oop m = lookupSelector(rt, c, sel);
  return answer(in, argc, m.isNull() ? rt.nil() : m);
}

ESPELL_PRIMITIVE(classInstanceCount) {
  Runtime& rt = in.runtime();
  Oop c = receiver(in, argc);
  if (!isClass(rt, c)) return kFail;
  space::ClassIndex index = space::ClassIndex(c.object()->rawHash());
  int64_t n = 0;
  in.space().forEachObject([&](space::HeapObject* o) {
    if (o->classIndex() == index) n++;
  });
  return answerInt(in, argc, n);
}

}  // namespace
}  // namespace prim

void registerClassPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Class>>new", classNew);
  t.add("Class>>basicNew", classNew);
  t.add("Class>>new:", classNewSized);
  t.add("Class>>basicNew:", classNewSized);
  t.add("Class>>instancesAreMadeByVm", classInstancesAreMadeByVm);
  t.add("Class>>instancesAreIndexable", classInstancesAreIndexable);
  t.add("Class>>vmMaintainedFields", classVmMaintainedFields);
  t.add("Class>>name", className);
  t.add("Class>>superclass", classSuperclass);
  t.add("Class>>fields", classFields);
  t.add("Class>>methods", classMethods);
  t.add("Class>>includesSelector:", classIncludesSelector);
  t.add("Class>>lookupSelector:", classLookup);
  t.add("Class>>instanceCount", classInstanceCount);
}

}  // namespace vm
