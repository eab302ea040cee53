// PrimitiveSupport: what the kernel's primitive files share beyond the calling contract
// (PrimitiveArguments.h, Primitives.h): index checks and object sizes.
#pragma once

#include <string>
#include <string_view>

#include "vm/CompiledCode.h"
#include "vm/Interpreter.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/PrimitiveArguments.h"
#include "vm/Runtime.h"

namespace vm::prim {

using space::HeapObject;
using space::LocalRoot;

inline bool isSmall(Oop o) {
  return o.isSmallInteger();
}
// A 1-based index into [1, size], as a 0-based offset; -1 when out of range.
inline int64_t index0(Oop index, size_t size) {
  if (!index.isSmallInteger()) return -1;
  int64_t i = index.smallInteger() - 1;
  return (i >= 0 && uint64_t(i) < size) ? i : -1;
}

// [F] behind a check of its receiver. A primitive may be bound in any subclass of its class
// and the VM makes some instances without new (a program's main object, mirrors), so one
// that reads its receiver's representation registers with the test of what it needs;
// failing leaves the stack as it is (see Primitives.h).
template <bool (*Accepts)(const Runtime&, Oop), PrimitiveFunction F>
PrimitiveResult withReceiver(Interpreter& in, int argc) {
  if (!Accepts(in.runtime(), in.receiverOf(argc))) return PrimitiveResult::Failure;
  return F(in, argc);
}

// Receiver tests for withReceiver.
inline bool isBytesObject(const Runtime&, Oop o) {
  return o.isHeapObject() && space::formatIsBytes(o.object()->format());
}
inline bool isIntegerObject(const Runtime& rt, Oop o) {
  return o.isSmallInteger() || isLargeInteger(rt, o);
}
inline bool isDoubleObject(const Runtime& rt, Oop o) {
  return o.isSmallFloat() || (o.isHeapObject() && o.object()->classIndex() == rt.known.doubleClass);
}
inline bool isContextObject(const Runtime& rt, Oop o) {
  return o.isHeapObject() && o.object()->classIndex() == rt.known.context;
}
// A closure: an instance of one of the VM's block classes (made only by the VM).
inline bool isClosureObject(const Runtime& rt, Oop o) {
  if (!o.isHeapObject()) return false;
  ClassIndex c = o.object()->classIndex();
  for (ClassIndex k : rt.known.block) {
    if (c == k) return true;
  }
  return false;
}

// Number of indexable slots (or bytes) and of fixed fields of an object.
size_t fixedFieldsOf(Runtime& rt, Oop o);
size_t indexableSizeOf(Runtime& rt, Oop o);

}  // namespace vm::prim
