// Array primitives: indexed access (1-based), size, bulk copy.
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

bool isPointerIndexable(Oop o) {
  return o.isHeapObject() && (o.object()->format() == space::Format::Indexable);
}

ESPELL_PRIMITIVE(arrayAt) {
  Oop r = receiver(in, argc);
  if (!isPointerIndexable(r)) return kFail;
  int64_t i = index0(arg(in, argc, 0), r.object()->slotCount());
  if (i < 0) return kFail;
  return answer(in, argc, r.object()->slot(size_t(i)));
}

ESPELL_PRIMITIVE(arrayAtPut) {
  Oop r = receiver(in, argc), v = arg(in, argc, 1);
  if (!isPointerIndexable(r)) return kFail;
  int64_t i = index0(arg(in, argc, 0), r.object()->slotCount());
  if (i < 0) return kFail;
  in.space().storePointer(r, size_t(i), v);
  return answer(in, argc, v);
}

ESPELL_PRIMITIVE(arrayLength) {
  Oop r = receiver(in, argc);
  if (!isPointerIndexable(r)) return kFail;
  return answerInt(in, argc, int64_t(r.object()->slotCount()));
}

// replaceFrom: start to: stop with: source startingAt: sourceStart
ESPELL_PRIMITIVE(arrayReplace) {
  Oop r = receiver(in, argc), from = arg(in, argc, 0), to = arg(in, argc, 1), src = arg(in, argc, 2),
      srcStart = arg(in, argc, 3);
  if (!isPointerIndexable(r) || !isPointerIndexable(src) || !from.isSmallInteger() || !to.isSmallInteger() ||
      !srcStart.isSmallInteger()) {
    return kFail;
  }
  int64_t a = from.smallInteger(), b = to.smallInteger(), c = srcStart.smallInteger();
  int64_t n = b - a + 1;
  if (n < 0 || a < 1 || b > int64_t(r.object()->slotCount()) || c < 1 ||
      c + n - 1 > int64_t(src.object()->slotCount())) {
    return kFail;
  }
  Oop* dst = r.object()->slots() + (a - 1);
  const Oop* s = src.object()->slots() + (c - 1);
  std::memmove(static_cast<void*>(dst), static_cast<const void*>(s), size_t(n) * sizeof(Oop));
  in.space().rememberIfOld(r.object());
  return answer(in, argc, r);
}

ESPELL_PRIMITIVE(arrayCopyFromTo) {
  Runtime& rt = in.runtime();
  Oop r = receiver(in, argc), from = arg(in, argc, 0), to = arg(in, argc, 1);
  if (!isPointerIndexable(r) || !from.isSmallInteger() || !to.isSmallInteger()) return kFail;
  int64_t a = from.smallInteger(), b = to.smallInteger();
  int64_t n = b < a ? 0 : b - a + 1;
  if (n > 0 && (a < 1 || b > int64_t(r.object()->slotCount()))) return kFail;
  Oop out = rt.space().allocate(r.object()->classIndex(), space::Format::Indexable, size_t(n));
  r = receiver(in, argc);
  for (int64_t i = 0; i < n; i++) out.object()->slots()[i] = r.object()->slot(size_t(a - 1 + i));
  in.space().rememberIfOld(out.object());
  return answer(in, argc, out);
}

// putAll: aValue, whose Smalltalk body (kernel Array.som) is
//   1 to: self length do: [ :i | self at: i put: aValue value ]
// When every send in it would find the kernel's method — length and at:put: Array's
// primitives, the counted loop's SmallInteger + and <= the VM's, and aValue's #value a
// quick "^ self" (Object>>value, Boolean>>value; a block's is not) — each #value answers
// aValue and nothing else happens but the stores, so they are made at once. Anything else
// (a block, an object with its own #value, a subclass of Array, a redefined method) fails,
// and the body sends it all.
ESPELL_PRIMITIVE(arrayPutAll) {
  Runtime& rt = in.runtime();
  Oop r = receiver(in, argc), v = arg(in, argc, 0);
  if (!isPointerIndexable(r) || r.object()->classIndex() != rt.known.array || !in.arrayFillGuard()) return kFail;
  // A block's #value is never "^ self": fail before any lookup (new: n withAll: [ ... ]
  // builds the elements of trees and tables, often of small arrays).
  space::ClassIndex valueClass = in.space().classIndexOf(v);
  for (space::ClassIndex block : rt.known.block) {
    if (valueClass == block) return kFail;
  }
  Oop valueSelector = in.space().symbols().lookup("value");
  if (valueSelector.isNull()) return kFail;
  Oop value = in.methodFor(v, valueSelector);
  if (value.isNull() ||
      QuickMethod::kind(value.object()->slot(code_slot::kQuick).smallInteger()) != QuickMethod::ReturnSelf) {
    return kFail;
  }
  HeapObject* a = r.object();
  Oop* slots = a->slots();
  for (size_t i = 0, n = a->slotCount(); i < n; i++) slots[i] = v;
  in.space().rememberIfOld(a);
  return answer(in, argc, r);
}

}  // namespace
}  // namespace prim

void registerArrayPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Array>>at:", arrayAt);
  t.add("Array>>at:put:", arrayAtPut);
  t.add("Array>>length", arrayLength);
  t.add("Array>>size", arrayLength);
  t.add("Array>>replaceFrom:to:with:startingAt:", arrayReplace);
  t.add("Array>>copyFrom:to:", arrayCopyFromTo);
}

void registerLaterArrayPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Array>>putAll:", arrayPutAll);
}

}  // namespace vm
