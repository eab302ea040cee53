// Object primitives: identity, class, hashing, reflection (perform:, instVarAt:), copying
// and identity swaps. Also the PrimitiveTable itself.
#include <algorithm>
#include <stdexcept>

#include "vm/ClassBuilder.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {

PrimitiveTable::PrimitiveTable() {
  entries_.push_back({"<none>", nullptr});  // index 0 means "no primitive"
  registerObjectPrimitives(*this);
  registerClassPrimitives(*this);
  registerIntegerPrimitives(*this);
  registerDoublePrimitives(*this);
  registerStringPrimitives(*this);
  registerArrayPrimitives(*this);
  registerBlockPrimitives(*this);
  registerMethodPrimitives(*this);
  registerSystemPrimitives(*this);
  registerContextPrimitives(*this);
  registerProcessPrimitives(*this);
  registerCharacterPrimitives(*this);
  registerSocketPrimitives(*this);
  // New primitives register last: compiled code in images holds primitive indices.
  registerBooleanPrimitives(*this);
  registerLaterArrayPrimitives(*this);
}

void PrimitiveTable::add(std::string name, PrimitiveFunction fn) {
  if (byName_.count(name)) throw std::logic_error("primitive registered twice: " + name);
  // Compiled code holds its primitive's index in a CodeHeader field.
  if (entries_.size() > CodeHeader::kMaxPrimitive) {
    throw std::logic_error("primitive table full (" + std::to_string(CodeHeader::kMaxPrimitive) + "): " + name);
  }
  byName_[name] = unsigned(entries_.size());
  entries_.push_back({std::move(name), fn});
}

unsigned PrimitiveTable::indexOf(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  return it == byName_.end() ? 0 : it->second;
}

namespace prim {

size_t fixedFieldsOf(Runtime& rt, Oop o) {
  if (!o.isHeapObject()) return 0;
  Oop cls = rt.classOf(o);
  if (!cls.isHeapObject() || cls.object()->slotCount() < class_slot::kCount) return 0;
  int64_t spec = cls.object()->slot(class_slot::kInstanceSpec).smallInteger();
  space::Format f = o.object()->format();
  if (f == space::Format::Fixed || f == space::Format::CompiledCode || f == space::Format::Empty)
    return o.object()->slotCount();
  if (f == space::Format::FixedIndexable) return InstanceSpec::fixedFields(spec);
  return 0;
}

size_t indexableSizeOf(Runtime& rt, Oop o) {
  if (!o.isHeapObject()) return 0;
  HeapObject* h = o.object();
  switch (h->format()) {
    case space::Format::Indexable:
      return h->slotCount();
    case space::Format::FixedIndexable:
      return h->slotCount() - fixedFieldsOf(rt, o);
    case space::Format::Words:
      return h->slotCount();
    default:
      return space::formatIsBytes(h->format()) ? h->byteLength() : 0;
  }
}

namespace {

ESPELL_PRIMITIVE(objectClass) {
  return answer(in, argc, in.runtime().classOf(space::Space::follow(receiver(in, argc))));
}

ESPELL_PRIMITIVE(objectIdentical) {
  Oop a = space::Space::follow(receiver(in, argc)), b = space::Space::follow(arg(in, argc, 0));
  return answerBool(in, argc, a == b);
}

ESPELL_PRIMITIVE(objectIdentityHash) {
  return answerInt(in, argc, int64_t(in.space().identityHash(receiver(in, argc))));
}

ESPELL_PRIMITIVE(objectSize) {
  Oop r = receiver(in, argc);
  return answerInt(in, argc, r.isHeapObject() ? int64_t(r.object()->totalBytes()) : 8);
}

ESPELL_PRIMITIVE(objectBasicSize) {
  return answerInt(in, argc, int64_t(indexableSizeOf(in.runtime(), receiver(in, argc))));
}

// Reflection (instVarAt:, basicAt:, ...) leaves alone what the VM maintains (VmMaintained):
// a closure's code, a process's stack, a class's method dictionary, ...

ESPELL_PRIMITIVE(objectBasicAt) {
  Runtime& rt = in.runtime();
  Oop r = receiver(in, argc);
  if (!r.isHeapObject() || vmMaintained(rt, r).indexed) return kFail;
  size_t size = indexableSizeOf(rt, r);
  int64_t i = index0(arg(in, argc, 0), size);
  if (i < 0) return kFail;
  HeapObject* h = r.object();
  if (space::formatHasPointers(h->format())) return answer(in, argc, h->slot(fixedFieldsOf(rt, r) + size_t(i)));
  if (space::formatIsBytes(h->format())) return answerInt(in, argc, h->bytes()[i]);
  return answerInt(in, argc, int64_t(h->words()[i]));
}

ESPELL_PRIMITIVE(objectBasicAtPut) {
  Runtime& rt = in.runtime();
  Oop r = receiver(in, argc), v = arg(in, argc, 1);
  if (!r.isHeapObject() || vmMaintained(rt, r).indexed || r.object()->isImmutable()) return kFail;
  size_t size = indexableSizeOf(rt, r);
  int64_t i = index0(arg(in, argc, 0), size);
  if (i < 0) return kFail;
  HeapObject* h = r.object();
  if (space::formatHasPointers(h->format())) {
    in.space().storePointer(r, fixedFieldsOf(rt, r) + size_t(i), v);
  } else if (space::formatIsBytes(h->format())) {
    if (!v.isSmallInteger() || v.smallInteger() < 0 || v.smallInteger() > 255) return kFail;
    h->bytes()[i] = uint8_t(v.smallInteger());
    if (v.smallInteger() >= 0x80) h->noteBytesWritten();
  } else {
    return kFail;
  }
  return answer(in, argc, v);
}

// The 0-based index of the field [index] (1-based) of [r] that reflection may use, or -1.
int64_t reflectableField(Runtime& rt, Oop r, Oop index) {
  if (!r.isHeapObject() || !space::formatHasPointers(r.object()->format())) return -1;
  int64_t i = index0(index, fixedFieldsOf(rt, r));
  return i < int64_t(vmMaintained(rt, r).fields) ? -1 : i;
}

ESPELL_PRIMITIVE(objectInstVarAt) {
  Oop r = receiver(in, argc);
  int64_t i = reflectableField(in.runtime(), r, arg(in, argc, 0));
  if (i < 0) return kFail;
  return answer(in, argc, r.object()->slot(size_t(i)));
}

ESPELL_PRIMITIVE(objectInstVarAtPut) {
  Oop r = receiver(in, argc), v = arg(in, argc, 1);
  int64_t i = reflectableField(in.runtime(), r, arg(in, argc, 0));
  if (i < 0 || r.object()->isImmutable()) return kFail;
  in.space().storePointer(r, size_t(i), v);
  return answer(in, argc, v);
}

// The 0-based index of the field named [name] of [o] that reflection may use, or -1.
int64_t fieldIndexNamed(Runtime& rt, Oop o, Oop name) {
  if (!isString(rt, name) || !o.isHeapObject() || !space::formatHasPointers(o.object()->format())) return -1;
  std::vector<std::string> names = instanceVariableNames(rt, rt.classOf(o));
  for (size_t i = std::min(names.size(), fixedFieldsOf(rt, o)); i-- > 0;) {
    if (names[i] == bytesOf(name)) return i < vmMaintained(rt, o).fields ? -1 : int64_t(i);
  }
  return -1;
}

ESPELL_PRIMITIVE(objectInstVarNamed) {
  Oop r = receiver(in, argc);
  if (!r.isHeapObject()) return kFail;
  int64_t i = fieldIndexNamed(in.runtime(), r, arg(in, argc, 0));
  if (i < 0) return kFail;
  return answer(in, argc, r.object()->slot(size_t(i)));
}

ESPELL_PRIMITIVE(objectInstVarNamedPut) {
  Oop r = receiver(in, argc);
  if (!r.isHeapObject()) return kFail;
  int64_t i = fieldIndexNamed(in.runtime(), r, arg(in, argc, 0));
  if (i < 0) return kFail;
  Oop v = arg(in, argc, 1);
  if (r.object()->isImmutable()) return kFail;
  in.space().storePointer(r, size_t(i), v);
  return answer(in, argc, v);
}

// perform: family. The selector and arguments are rearranged on the stack into a send.
PrimitiveResult performWith(Interpreter& in, int argc, int performArgs) {
  Oop selector = arg(in, argc, 0);
  if (!isSymbol(in.runtime(), selector)) return kFail;
  // Stack: receiver selector a1..an  ->  receiver a1..an
  for (int k = 0; k < performArgs; k++) in.setStackAt(argc - 1 - k, in.stackAt(argc - 2 - k));
  in.pop();
  return in.sendFromPrimitive(selector, performArgs);
}

ESPELL_PRIMITIVE(objectPerform) {
  return performWith(in, argc, 0);
}
ESPELL_PRIMITIVE(objectPerformWith) {
  return performWith(in, argc, 1);
}
ESPELL_PRIMITIVE(objectPerformWithWith) {
  return performWith(in, argc, 2);
}
ESPELL_PRIMITIVE(objectPerformWithWithWith) {
  return performWith(in, argc, 3);
}

ESPELL_PRIMITIVE(objectPerformWithArguments) {
  Runtime& rt = in.runtime();
  Oop selector = arg(in, argc, 0), args = arg(in, argc, 1);
  if (!isSymbol(rt, selector) || !isArray(rt, args)) return kFail;
  size_t n = args.object()->slotCount();
  in.pop();
  in.pop();
  for (size_t i = 0; i < n; i++) in.push(args.object()->slot(i));
  return in.sendFromPrimitive(selector, int(n));
}

ESPELL_PRIMITIVE(objectPerformInSuperclass) {
  Runtime& rt = in.runtime();
  Oop selector = arg(in, argc, 0), cls = arg(in, argc, 1);
  // The method found reads its receiver as an instance of the class it was found in.
  if (!isSymbol(rt, selector) || !isClass(rt, cls) || !inheritsFrom(rt, rt.classOf(receiver(in, argc)), cls)) {
    return kFail;
  }
  in.pop();
  in.pop();
  return in.sendFromPrimitiveTo(selector, 0, cls);
}

ESPELL_PRIMITIVE(objectPerformWithArgumentsInSuperclass) {
  Runtime& rt = in.runtime();
  Oop selector = arg(in, argc, 0), args = arg(in, argc, 1), cls = arg(in, argc, 2);
  if (!isSymbol(rt, selector) || !isArray(rt, args) || !isClass(rt, cls) ||
      !inheritsFrom(rt, rt.classOf(receiver(in, argc)), cls)) {
    return kFail;
  }
  size_t n = args.object()->slotCount();
  in.pop();
  in.pop();
  in.pop();
  for (size_t i = 0; i < n; i++) in.push(args.object()->slot(i));
  return in.sendFromPrimitiveTo(selector, int(n), cls);
}

// A copy of an object the VM maintains would share what the VM keeps unique (a process's
// stack, a class's index, a semaphore's waiting processes): refused.
ESPELL_PRIMITIVE(objectShallowCopy) {
  Oop r = receiver(in, argc);
  if (!r.isHeapObject()) return answer(in, argc, r);
  Runtime& rt = in.runtime();
  if (r == rt.nil() || r == rt.trueObject() || r == rt.falseObject()) return answer(in, argc, r);
  if (vmMaintained(rt, r).any()) return kFail;
  Oop copy = in.space().shallowCopy(r);
  return answer(in, argc, copy);
}

ESPELL_PRIMITIVE(objectIdentityHashOfArgument) {
  return answerInt(in, argc, int64_t(in.space().identityHash(arg(in, argc, 0))));
}

// Array>>elementsExchangeIdentityWith: / elementsForwardIdentityTo: — identity swaps of
// many pairs at once (Space::swapIdentities / becomeForward).
PrimitiveResult becomeArrays(Interpreter& in, int argc, bool twoWay) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  if (!isArray(rt, a) || !isArray(rt, b) || a.object()->slotCount() != b.object()->slotCount()) return kFail;
  std::vector<Oop> as(a.object()->slots(), a.object()->slots() + a.object()->slotCount());
  std::vector<Oop> bs(b.object()->slots(), b.object()->slots() + b.object()->slotCount());
  // References the VM holds (ready lists, frames, the class table) must keep the kind of
  // object they expect: objects it maintains keep their identity; one-way forwarding may
  // still make ordinary objects point at them.
  auto maintained = [&](const std::vector<Oop>& objects) {
    return std::any_of(objects.begin(), objects.end(),
                       [&](Oop o) { return vmMaintained(rt, space::Space::follow(o)).any(); });
  };
  if (maintained(as) || (twoWay && maintained(bs))) return kFail;
  try {
    if (twoWay) {
      in.space().swapIdentities(as, bs);
    } else {
      in.space().becomeForward(as, bs, space::CopyHash::Yes);
    }
  } catch (const std::exception&) {
    return kFail;
  }
  rt.classes().invalidateAll();
  in.loadRegisters();
  return answer(in, argc, in.receiverOf(argc));
}

ESPELL_PRIMITIVE(arrayExchangeIdentities) {
  return becomeArrays(in, argc, true);
}
ESPELL_PRIMITIVE(arrayForwardIdentities) {
  return becomeArrays(in, argc, false);
}

ESPELL_PRIMITIVE(objectHalt) {
  std::fflush(in.runtime().options().out);
  std::fprintf(in.runtime().options().err, "halt\n%s", in.stackTrace().c_str());
  return answer(in, argc, receiver(in, argc));
}

ESPELL_PRIMITIVE(objectInspect) {
  Runtime& rt = in.runtime();
  Oop r = receiver(in, argc);
  std::string text = describeObject(rt, r);
  std::vector<std::string> names =
      r.isHeapObject() ? instanceVariableNames(rt, rt.classOf(r)) : std::vector<std::string>{};
  for (size_t i = 0; i < names.size() && r.isHeapObject() && i < r.object()->slotCount(); i++) {
    text += "\n  " + names[i] + ": " + describeObject(rt, r.object()->slot(i));
  }
  std::fprintf(rt.options().out, "%s\n", text.c_str());
  return answer(in, argc, r);
}

ESPELL_PRIMITIVE(objectDescription) {
  return answerString(in, argc, describeObject(in.runtime(), receiver(in, argc)));
}

}  // namespace
}  // namespace prim

void registerObjectPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Object>>class", objectClass);
  t.add("Object>>==", objectIdentical);
  t.add("Object>>hashcode", objectIdentityHash);
  t.add("Object>>identityHash", objectIdentityHash);
  t.add("Object>>objectSize", objectSize);
  t.add("Object>>basicSize", objectBasicSize);
  t.add("Object>>basicAt:", objectBasicAt);
  t.add("Object>>basicAt:put:", objectBasicAtPut);
  t.add("Object>>instVarAt:", objectInstVarAt);
  t.add("Object>>instVarAt:put:", objectInstVarAtPut);
  t.add("Object>>instVarNamed:", objectInstVarNamed);
  t.add("Object>>instVarNamed:put:", objectInstVarNamedPut);
  t.add("Object>>perform:", objectPerform);
  t.add("Object>>perform:with:", objectPerformWith);
  t.add("Object>>perform:with:with:", objectPerformWithWith);
  t.add("Object>>perform:with:with:with:", objectPerformWithWithWith);
  t.add("Object>>perform:withArguments:", objectPerformWithArguments);
  t.add("Object>>perform:inSuperclass:", objectPerformInSuperclass);
  t.add("Object>>perform:withArguments:inSuperclass:", objectPerformWithArgumentsInSuperclass);
  t.add("shallowCopy", objectShallowCopy);
  t.add("HashedCollection>>identityHashOf:", objectIdentityHashOfArgument);
  t.add("Array>>elementsExchangeIdentityWith:", arrayExchangeIdentities);
  t.add("Array>>elementsForwardIdentityTo:", arrayForwardIdentities);
  t.add("Object>>halt", objectHalt);
  t.add("Object>>inspect", objectInspect);
  t.add("Object>>primDescription", objectDescription);
}

}  // namespace vm
