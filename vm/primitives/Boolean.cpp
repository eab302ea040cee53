// Boolean primitives: && and || with a Boolean argument, so that neither builds a frame.
// Their Smalltalk bodies (True.som, False.som) serve other arguments (blocks: "value").
// The interpreter's SendAnd/SendOr take the same shortcut inline while these are the
// methods a send would find (Interpreter::refreshGuards).
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

// true && b, false || b: b itself when it is a Boolean.
ESPELL_PRIMITIVE(booleanArgument) {
  Oop b = arg(in, argc, 0);
  Runtime& rt = in.runtime();
  if (b != rt.trueObject() && b != rt.falseObject()) return kFail;
  return answer(in, argc, b);
}

// false && b, true || b: the receiver, whatever b is (it is not evaluated).
ESPELL_PRIMITIVE(booleanReceiver) {
  return answer(in, argc, receiver(in, argc));
}

}  // namespace
}  // namespace prim

void registerBooleanPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("True>>&&", booleanArgument);
  t.add("False>>||", booleanArgument);
  t.add("False>>&&", booleanReceiver);
  t.add("True>>||", booleanReceiver);
}

}  // namespace vm
