// Block primitives: evaluation (value, value:, ..., valueWithArguments:) and arity.
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

bool isClosure(Runtime& rt, Oop o) {
  return isClosureObject(rt, o);
}

ESPELL_PRIMITIVE(blockValue) {
  Oop closure = receiver(in, argc);
  if (!isClosure(in.runtime(), closure)) return kFail;
  return in.activateBlock(closure, argc);
}

ESPELL_PRIMITIVE(blockValueWithArguments) {
  Runtime& rt = in.runtime();
  Oop closure = receiver(in, argc), args = arg(in, argc, 0);
  if (!isClosure(rt, closure) || !isArray(rt, args)) return kFail;
  Oop code = closure.object()->slot(closure_slot::kCode);
  size_t n = args.object()->slotCount();
  if (argCountOf(code) != n) return kFail;
  in.pop();
  for (size_t i = 0; i < n; i++) in.push(args.object()->slot(i));
  return in.activateBlock(closure, int(n));
}

ESPELL_PRIMITIVE(blockNumArgs) {
  Oop closure = receiver(in, argc);
  if (!isClosure(in.runtime(), closure)) return kFail;
  Oop code = closure.object()->slot(closure_slot::kCode);
  return answerInt(in, argc, argCountOf(code));
}

}  // namespace
}  // namespace prim

void registerBlockPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Block>>value", blockValue);
  t.add("Block>>value:", blockValue);
  t.add("Block>>value:with:", blockValue);
  t.add("Block>>value:with:with:", blockValue);
  t.add("Block>>value:with:with:with:", blockValue);
  t.add("Block>>value:value:", blockValue);
  t.add("Block>>value:value:value:", blockValue);
  t.add("Block>>value:value:value:value:", blockValue);
  t.add("Block>>valueWithArguments:", blockValueWithArguments);
  t.add("Block>>numArgs", blockNumArgs);
}

}  // namespace vm
