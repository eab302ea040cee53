// Method primitives: reflection on compiled methods and invoking them directly.
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

bool isCode(Runtime& rt, Oop o) {
  return o.isHeapObject() && o.object()->format() == space::Format::CompiledCode && (void(rt), true);
}

ESPELL_PRIMITIVE(methodSignature) {
  Oop m = receiver(in, argc);
  if (!isCode(in.runtime(), m)) return kFail;
  return answer(in, argc, m.object()->slot(code_slot::kSelector));
}

ESPELL_PRIMITIVE(methodHolder) {
  Oop m = receiver(in, argc);
  if (!isCode(in.runtime(), m)) return kFail;
  return answer(in, argc, m.object()->slot(code_slot::kHolder));
}

ESPELL_PRIMITIVE(methodNumArgs) {
  Oop m = receiver(in, argc);
  if (!isCode(in.runtime(), m)) return kFail;
  return answerInt(in, argc, argCountOf(m));
}

ESPELL_PRIMITIVE(methodNumTemps) {
  Oop m = receiver(in, argc);
  if (!isCode(in.runtime(), m)) return kFail;
  return answerInt(in, argc, CodeHeader::temps(m.object()->slot(code_slot::kHeader).smallInteger()));
}

ESPELL_PRIMITIVE(methodSource) {
  Runtime& rt = in.runtime();
  Oop m = receiver(in, argc);
  if (!isCode(rt, m)) return kFail;
  Oop debug = m.object()->slot(code_slot::kDebugInfo);
  if (!isArray(rt, debug) || debug.object()->slotCount() < 1) return answer(in, argc, rt.nil());
  return answer(in, argc, debug.object()->slot(0));
}

// invokeOn: receiver with: argumentsArray
ESPELL_PRIMITIVE(methodInvoke) {
  Runtime& rt = in.runtime();
  Oop m = receiver(in, argc), target = arg(in, argc, 0), args = arg(in, argc, 1);
  if (!isCode(rt, m) || !isArray(rt, args)) return kFail;
  // The code reads its receiver as an instance of its holder (fields, primitives); a
  // block's code runs only in its closure.
  Oop holder = m.object()->slot(code_slot::kHolder);
  if (m.object()->classIndex() == rt.known.compiledBlock || !isClass(rt, holder) ||
      !inheritsFrom(rt, rt.classOf(target), holder)) {
    return kFail;
  }
  size_t n = args.object()->slotCount();
  if (argCountOf(m) != n) return kFail;
  // Stack: method target args  ->  target a1..an
  in.pop();
  in.pop();
  in.setStackAt(0, target);
  for (size_t i = 0; i < n; i++) in.push(args.object()->slot(i));
  return in.activateMethodFromPrimitive(m, int(n));
}

}  // namespace
}  // namespace prim

void registerMethodPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Method>>signature", methodSignature);
  t.add("Method>>selector", methodSignature);
  t.add("Method>>holder", methodHolder);
  t.add("Method>>numArgs", methodNumArgs);
  t.add("Method>>numTemps", methodNumTemps);
  t.add("Method>>source", methodSource);
  t.add("Method>>invokeOn:with:", methodInvoke);
}

}  // namespace vm
