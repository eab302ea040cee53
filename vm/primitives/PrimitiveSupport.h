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

// Number of indexable slots (or bytes) and of fixed fields of an object.
size_t fixedFieldsOf(Runtime& rt, Oop o);
size_t indexableSizeOf(Runtime& rt, Oop o);

}  // namespace vm::prim
