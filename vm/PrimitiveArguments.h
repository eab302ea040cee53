// PrimitiveArguments: the calling contract of Primitives.h as functions — what a
// primitive, of the kernel (vm/primitives/) or of a host extension (the mirror bridge of
// the hypervisor space), uses to read its receiver and arguments and to answer.
#pragma once

#include <string_view>

#include "vm/Interpreter.h"
#include "vm/Objects.h"

namespace vm::prim {

#define ESPELL_PRIMITIVE(name) static PrimitiveResult name(Interpreter& in, int argc)

inline Oop receiver(Interpreter& in, int argc) {
  return in.receiverOf(argc);
}
// Argument `i` (0-based).
inline Oop arg(Interpreter& in, int argc, int i) {
  return in.argumentOf(argc, i);
}
// Success: `result` replaces the receiver and the arguments.
inline PrimitiveResult answer(Interpreter& in, int argc, Oop result) {
  return in.popThenPush(argc, result);
}
inline PrimitiveResult answerBool(Interpreter& in, int argc, bool b) {
  return in.popThenPush(argc, in.runtime().boolean(b));
}
// May allocate (a LargeInteger): read every argument first.
inline PrimitiveResult answerInt(Interpreter& in, int argc, int64_t v) {
  return in.popThenPush(argc, newInteger(in.runtime(), v));
}
// Allocates the String: read every argument first.
inline PrimitiveResult answerString(Interpreter& in, int argc, std::string_view s) {
  return in.popThenPush(argc, newString(in.runtime(), s));
}
constexpr PrimitiveResult kFail = PrimitiveResult::Failure;

}  // namespace vm::prim
