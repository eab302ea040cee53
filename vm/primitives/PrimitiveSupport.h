// PrimitiveSupport: shorthands shared by the primitive files (see Primitives.h for the
// calling contract).
#pragma once

#include <string>
#include <string_view>

#include "vm/Interpreter.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/Runtime.h"

namespace vm::prim {

using space::HeapObject;
using space::LocalRoot;

#define ESPELL_PRIMITIVE(name) static PrimitiveResult name(Interpreter& in, int argc)

inline Oop receiver(Interpreter& in, int argc) {
  return in.receiverOf(argc);
}
inline Oop arg(Interpreter& in, int argc, int i) {
  return in.argumentOf(argc, i);
}
inline PrimitiveResult answer(Interpreter& in, int argc, Oop result) {
  return in.popThenPush(argc, result);
}
inline PrimitiveResult answerBool(Interpreter& in, int argc, bool b) {
  return in.popThenPush(argc, in.runtime().boolean(b));
}
inline PrimitiveResult answerInt(Interpreter& in, int argc, int64_t v) {
  return in.popThenPush(argc, newInteger(in.runtime(), v));
}
inline PrimitiveResult answerString(Interpreter& in, int argc, std::string_view s) {
  return in.popThenPush(argc, newString(in.runtime(), s));
}
constexpr PrimitiveResult kFail = PrimitiveResult::Failure;

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
