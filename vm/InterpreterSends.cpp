// InterpreterSends: method lookup, inline-cache filling, doesNotUnderstand:, sends made on
// behalf of primitives, and the fast-path guards.
#include "vm/Frame.h"
#include "vm/Interpreter.h"
#include "vm/MethodCache.h"
#include "vm/MethodDictionary.h"
#include "vm/Objects.h"

namespace vm {

using space::HeapObject;

Oop Interpreter::lookupFrom(Oop cls, Oop selector) {
  return lookupSelector(rt_, cls, selector);
}

Oop Interpreter::lookupMethod(ClassIndex cls, Oop selector) {
  MethodCache& cache = rt_.methodCache();
  Oop m = cache.probe(cls, selector);
  if (!m.isNull()) return m;
  m = lookupFrom(rt_.classAt(cls), selector);
  if (!m.isNull()) cache.put(cls, selector, m);
  return m;
}

Oop Interpreter::superclassOfHolder(Oop code) {
  Oop holder = homeMethodOf(code).object()->slot(code_slot::kHolder);
  return holder.isHeapObject() && holder != nil_ ? holder.object()->slot(class_slot::kSuperclass) : nil_;
}

Oop Interpreter::doesNotUnderstand(Oop selector, int& argc) {
  // Rewrite "receiver args..." into "receiver selector argumentsArray".
  space::LocalRoot sel(space_.localRoots(), selector);
  Oop args = newArray(rt_, size_t(argc));
  for (int i = 0; i < argc; i++) space_.storePointer(args, size_t(i), regs_.sp[-argc + 1 + i]);
  regs_.sp -= argc;
  push(sel.get());
  push(args);
  argc = 2;
  Oop dnu = rt_.special(special::kSelectorDoesNotUnderstand);
  Oop m = lookupMethod(space_.classIndexOf(regs_.sp[-2]), dnu);
  if (m.isNull()) {
    failActiveProcess("fatal: " + describeObject(rt_, regs_.sp[-2]) + " does not understand #" +
                      std::string(bytesOf(sel.get())) + " nor #doesNotUnderstand:arguments:");
  }
  return m;
}

Oop Interpreter::lookupForSite(Oop* site, int& argc, bool isSuper) {
  Oop selector = site[send_site::kSelector];
  Oop receiver = regs_.sp[-argc];
  if (receiver.isHeapObject() && receiver.object()->isForwarded()) {
    receiver = space::Space::follow(receiver);
    regs_.sp[-argc] = receiver;
  }
  ClassIndex cls = space_.classIndexOf(receiver);
  Oop method;
  if (isSuper) {
    Oop start = superclassOfHolder(frame::code(regs_.fp));
    method = lookupFrom(start, selector);
  } else {
    method = lookupMethod(cls, selector);
  }
  if (method.isNull()) {
    // The send site lives in old space: its address survives the allocation below.
    return doesNotUnderstand(selector, argc);  // null when the process was terminated
  }
  // Fill the inline cache: an old-space array holding old methods, so no generational
  // barrier; but a marking in steps must see the method, which may leave its method
  // dictionary before the marking reaches it there (space/Marker.h).
  Oop tagged = Oop::fromSmallInteger(cls);
  if (site[send_site::kClass0].smallInteger() == 0) {
    site[send_site::kClass0] = tagged;
    site[send_site::kMethod0] = method;
  } else {
    site[send_site::kClass1] = tagged;
    site[send_site::kMethod1] = method;
  }
  if (space_.marking()) [[unlikely]] {
    HeapObject* sites = frame::code(regs_.fp).object()->slot(code_slot::kSendSites).object();
    ESPELL_ASSERT(site >= sites->slots() && site < sites->slots() + sites->slotCount(),
                  "a send site of the frame's code");
    space_.writeBarrier(sites, method);
  }
  return method;
}

PrimitiveResult Interpreter::activateMethodFromPrimitive(Oop method, int argc) {
  HeapObject* m = method.object();
  int64_t q = m->slot(code_slot::kQuick).smallInteger();
  if (q != 0) {
    ESPELL_RUN_QUICK_METHOD(q, regs_.sp, argc, (void)0)
    return PrimitiveResult::ControlTransferred;
  }
  int64_t h = codeHeaderOf(method);
  if (unsigned prim = CodeHeader::primitive(h)) {
    saveRegisters();
    PrimitiveResult r = callPrimitive(prim, argc, regs_.sp, regs_.fp);
    if (r != PrimitiveResult::Failure) return PrimitiveResult::ControlTransferred;
  }
  pushFrame(method, argc);
  return PrimitiveResult::ControlTransferred;
}

PrimitiveResult Interpreter::primitiveOutOfMemory(const space::HeapExhausted& e, int argc) {
  std::string description = e.what();
  regs_.sp -= argc;
  *regs_.sp = rt_.special(special::kProcessor);
  Oop text = newString(rt_, description);  // small; if even this fails, the process fails
  *++regs_.sp = text;
  return sendFromPrimitive(rt_.special(special::kSelectorOutOfMemory), 1);
}

PrimitiveResult Interpreter::sendFromPrimitive(Oop selector, int argc) {
  Oop receiver = space::Space::follow(regs_.sp[-argc]);
  regs_.sp[-argc] = receiver;
  Oop method = lookupMethod(space_.classIndexOf(receiver), selector);
  if (method.isNull()) {
    method = doesNotUnderstand(selector, argc);
    if (method.isNull()) return PrimitiveResult::ControlTransferred;
  }
  return activateMethodFromPrimitive(method, argc);
}

PrimitiveResult Interpreter::sendFromPrimitiveTo(Oop selector, int argc, Oop startClass) {
  Oop method = lookupFrom(startClass, selector);
  if (method.isNull()) {
    method = doesNotUnderstand(selector, argc);
    if (method.isNull()) return PrimitiveResult::ControlTransferred;
  }
  return activateMethodFromPrimitive(method, argc);
}

PrimitiveResult Interpreter::activateBlock(Oop closure, int argc) {
  Oop code = closure.object()->slot(closure_slot::kCode);
  if (int(argCountOf(code)) != argc) {
    return PrimitiveResult::Failure;
  }
  pushBlockFrame(closure, argc);
  return PrimitiveResult::ControlTransferred;
}

void Interpreter::refreshGuards() {
  struct IntSelector {
    const char* selector;
    uint32_t bit;
  };
  static const IntSelector kIntSelectors[] = {
      {"+", kGuardAdd},    {"-", kGuardSub},          {"*", kGuardMul},        {"<", kGuardLt},     {">", kGuardGt},
      {"<=", kGuardLe},    {">=", kGuardGe},          {"=", kGuardEq},         {"~=", kGuardNe},    {"<>", kGuardNe},
      {"&", kGuardBitAnd}, {"bitAnd:", kGuardBitAnd}, {"bitOr:", kGuardBitOr}, {"<<", kGuardShl},   {">>", kGuardShr},
      {">>>", kGuardShr},  {"/", kGuardQuo},          {"%", kGuardMod},        {"\\\\", kGuardMod},
  };
  // A guard holds while the method a send would find is still the one the kernel defined
  // (recorded by the bootstrap as a primitive whose name matches the selector's role).
  const PrimitiveTable& prims = rt_.primitives();
  auto isKernelPrimitive = [&](ClassIndex cls, const char* selector, const std::string& expected) {
    Oop sym = space_.symbols().lookup(selector);
    if (sym.isNull()) return false;
    Oop m = lookupFrom(rt_.classAt(cls), sym);
    if (m.isNull()) return false;
    unsigned prim = CodeHeader::primitive(m.object()->slot(code_slot::kHeader).smallInteger());
    return prim != 0 && prims.nameAt(prim) == expected;
  };
  uint32_t guards = ~0u;
  for (const IntSelector& s : kIntSelectors) {
    bool ok =
        isKernelPrimitive(space::reserved_class::kSmallInteger, s.selector, std::string("Integer>>") + s.selector);
    if (!ok) guards &= ~s.bit;
  }
  intGuards_ = guards;
  doubleGuard_ = rt_.known.doubleClass != 0;
  for (const char* s : {"+", "-", "*", "<", ">", "<=", ">="}) {
    if (!isKernelPrimitive(rt_.known.doubleClass, s, std::string("Double>>") + s)) doubleGuard_ = false;
  }
  doubleDivideGuard_ = doubleGuard_ && isKernelPrimitive(rt_.known.doubleClass, "//", "Double>>//");
  arrayAtGuard_ = isKernelPrimitive(rt_.known.array, "at:", "Array>>at:") &&
                  isKernelPrimitive(rt_.known.array, "at:put:", "Array>>at:put:");
  constexpr uint32_t kLoopGuards = kGuardAdd | kGuardLe;
  arrayFillGuard_ = arrayAtGuard_ && (intGuards_ & kLoopGuards) == kLoopGuards &&
                    isKernelPrimitive(rt_.known.array, "length", "Array>>length");
  blockValueGuard_ = isKernelPrimitive(rt_.known.block[0], "value", "Block>>value");
  ClassIndex trueClass = rt_.trueObject().object()->classIndex();
  ClassIndex falseClass = rt_.falseObject().object()->classIndex();
  booleanGuard_ = isKernelPrimitive(trueClass, "&&", "True>>&&") && isKernelPrimitive(trueClass, "||", "True>>||") &&
                  isKernelPrimitive(falseClass, "&&", "False>>&&") && isKernelPrimitive(falseClass, "||", "False>>||");
}

}  // namespace vm
