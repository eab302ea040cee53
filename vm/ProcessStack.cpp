// ProcessStack: see ProcessStack.h.
#include "vm/ProcessStack.h"

#include <algorithm>
#include <cstring>

#include "space/Assert.h"
#include "vm/Frame.h"
#include "vm/Interpreter.h"
#include "vm/Objects.h"
#include "vm/Opcodes.h"
#include "vm/Scheduler.h"

namespace vm::process_stack {

using space::HeapObject;
using space::LocalRoot;

namespace {
// A new process starts with room for this many slots (or twice its first frame's needs).
constexpr size_t kInitialStackSlots = 1024;

// Slots needed from the start of the stack object to the red zone above the deepest
// operand of a frame of code with header `h` whose receiver is at index `receiverIndex`.
size_t slotsFor(int64_t receiverIndex, int64_t h) {
  return size_t(receiverIndex) + 1 + CodeHeader::args(h) + frame::extent(h) + kRedZone;
}

// Makes the stack of `process` (not running) at least `slots` long; answers it.
Oop ensureSlots(Runtime& rt, Oop process, size_t slots) {
  Oop stack = stackOf(process);
  if (slots <= stack.object()->slotCount()) return stack;
  return grow(rt, process, slots, std::max(slots, rt.options().maxStackSlots));
}

// A new Process object owning `stack`, suspended, at `priority`.
Oop newProcessObject(Runtime& rt, Oop stack, int priority) {
  space::Space& sp = rt.space();
  LocalRoot st(sp.localRoots(), stack);
  Oop p = sp.allocate(rt.known.process, space::Format::Fixed, process_slot::kCount, space::Tenure::Old);
  sp.storePointer(p, process_slot::kStack, st.get());
  p.object()->slots()[process_slot::kPriority] = Oop::fromSmallInteger(priority);
  p.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Suspended));
  sp.storePointer(st.get(), stack_slot::kProcess, p);
  return p;
}

// A process whose stack has room for a bottom frame of code with header `h` and `argc`
// arguments; answers it with its stack still empty.
Oop newProcessFor(Runtime& rt, int64_t h, int priority) {
  size_t need = slotsFor(stack_slot::kFirstFrameSlot, h);
  Oop stack = newStack(rt, std::max(kInitialStackSlots, need * 2));
  return newProcessObject(rt, stack, priority);
}

// Records the bottom frame just built at `fp` with its stack pointer `sp`.
void finishBottomFrame(Runtime& rt, Oop stack, Oop* fp, Oop* sp) {
  Oop* s = stack.object()->slots();
  setRegisters(stack, Registers{sp - s, fp - s, 0});
  rt.space().rememberIfOld(stack.object());
}
}  // namespace

Oop newStack(Runtime& rt, size_t slots) {
  space::Space& sp = rt.space();
  Oop s = sp.allocate(rt.known.processStack, space::Format::Stack, slots, space::Tenure::Old);
  s.object()->slots()[stack_slot::kTop] = Oop::fromSmallInteger(stack_slot::kFirstFrameSlot - 1);
  sp.registerStack(s);
  return s;
}

Oop grow(Runtime& rt, Oop process, size_t minimumSlots, size_t maximumSlots) {
  space::Space& sp = rt.space();
  LocalRoot p(sp.localRoots(), process);
  size_t capacity = stackOf(process).object()->slotCount();
  size_t wanted = std::min(std::max(capacity * 2, minimumSlots), std::max(maximumSlots, minimumSlots));
  Oop bigger = sp.allocate(rt.known.processStack, space::Format::Stack, wanted, space::Tenure::Old);
  Oop old = stackOf(p.get());
  size_t top = size_t(registersOf(old).top);
  std::memcpy(bigger.object()->words(), old.object()->words(), (top + 1) * sizeof(Oop));
  Oop* slots = bigger.object()->slots();
  std::fill(slots + top + 1, slots + wanted, rt.nil());
  old.object()->slots()[stack_slot::kTop] = Oop::fromSmallInteger(stack_slot::kFirstFrameSlot - 1);
  sp.storePointer(p.get(), process_slot::kStack, bigger);
  sp.registerStack(bigger);
  if (p.get() == rt.scheduler().activeProcess()) {
    sp.setActiveStack(bigger);  // written without barrier from now on
  } else {
    sp.rememberIfOld(bigger.object());  // the copied frames may hold young objects
  }
  return bigger;
}

Oop newProcessSending(Runtime& rt, Oop receiver, Oop method, Oop args, int priority) {
  space::Space& sp = rt.space();
  LocalRoot r(sp.localRoots(), receiver), m(sp.localRoots(), method), a(sp.localRoots(), args);
  int64_t h = codeHeaderOf(method);
  Oop process = newProcessFor(rt, h, priority);
  Oop stack = stackOf(process);
  Oop* s = stack.object()->slots();
  Oop* top = s + stack_slot::kFirstFrameSlot;
  *top = r.get();
  int argc = int(CodeHeader::args(h));
  for (int k = 0; k < argc; k++) *++top = a.get().object()->slot(size_t(k));
  Oop* fp = top + 1;
  Oop* newSp = frame::pushMethod(top, argc, m.get(), h, 0, 0, rt.nil());
  finishBottomFrame(rt, stack, fp, newSp);
  return process;
}

Oop newProcessForBlock(Runtime& rt, Oop closure, int priority) {
  space::Space& sp = rt.space();
  LocalRoot c(sp.localRoots(), closure);
  int64_t h = codeHeaderOf(closure.object()->slot(closure_slot::kCode));
  Oop process = newProcessFor(rt, h, priority);
  Oop stack = stackOf(process);
  Oop* top = stack.object()->slots() + stack_slot::kFirstFrameSlot;
  *top = c.get();
  Oop* newSp = frame::pushBlock(top, 0, h, 0, 0, rt.nil());
  finishBottomFrame(rt, stack, top + 1, newSp);
  return process;
}

void returnFrom(Runtime& rt, Oop process, int64_t index, Oop value) {
  ESPELL_ASSERT(process != rt.scheduler().activeProcess(), "the space must be quiescent to edit a stack");
  Oop stack = stackOf(process);
  Oop* s = stack.object()->slots();
  Oop* fp = s + index;
  Registers r = registersOf(stack);
  frame::widowContexts(s, r.fp, index, frame::Through::Target, rt.nil());
  Oop* result = frame::resultSlot(fp);
  setRegisters(stack, Registers{result - s, frame::callerIndex(fp), frame::callerIp(fp)});
  rt.space().storePointer(stack, size_t(result - s), value);
}

void restartFrame(Runtime& rt, Oop process, int64_t index, Oop code) {
  space::Space& sp = rt.space();
  LocalRoot c(sp.localRoots(), code);
  Oop stack = stackOf(process);
  frame::widowContexts(stack.object()->slots(), registersOf(stack).fp, index, frame::Through::AboveTarget, rt.nil());
  int64_t h = codeHeaderOf(code);
  stack = ensureSlots(rt, process, size_t(index) + frame::extent(h) + kRedZone);
  Oop* fp = stack.object()->slots() + index;
  sp.storePointer(stack, size_t(index + frame_slot::kMethod), c.get());
  Oop closure = isBlockCode(c.get()) ? *frame::resultSlot(fp) : rt.nil();
  Oop* top = frame::resetTemps(fp, h, closure, rt.nil());
  setRegisters(stack, Registers{top - stack.object()->slots(), index, 0});
  sp.rememberIfOld(stack.object());
}

bool stoppedAtUpdatePoint(Oop process) {
  Oop stack = stackOf(process);
  Registers r = registersOf(stack);
  if (r.fp == 0) return false;
  Oop code = frame::code(stack.object()->slots() + r.fp);
  int size = instructionSize(Op::UpdatePoint);
  return r.ip >= size && Op(bytecodesOf(code)[r.ip - size]) == Op::UpdatePoint;
}

void insertFrameAtUpdatePoint(Runtime& rt, Oop process, Oop receiver, Oop method, Oop args) {
  ESPELL_ASSERT(process != rt.scheduler().activeProcess(), "the space must be quiescent to edit a stack");
  ESPELL_ASSERT(stoppedAtUpdatePoint(process), "frames are inserted at update points only");
  ESPELL_ASSERT(args.object()->slotCount() == argCountOf(method), "one argument per parameter");
  space::Space& sp = rt.space();
  LocalRoot r(sp.localRoots(), receiver), m(sp.localRoots(), method), a(sp.localRoots(), args);
  Registers regs = registersOf(stackOf(process));
  int64_t h = codeHeaderOf(method);
  int64_t receiverIndex = regs.top;  // the value the update point pushed
  Oop stack = ensureSlots(rt, process, slotsFor(receiverIndex, h));
  Oop* s = stack.object()->slots();
  Oop* top = s + receiverIndex;
  *top = r.get();
  int argc = int(CodeHeader::args(h));
  for (int k = 0; k < argc; k++) *++top = a.get().object()->slot(size_t(k));
  Oop* fp = top + 1;
  Oop* newSp = frame::pushMethod(top, argc, m.get(), h, regs.fp, regs.ip, rt.nil());
  setRegisters(stack, Registers{newSp - s, fp - s, 0});
  sp.rememberIfOld(stack.object());
}

}  // namespace vm::process_stack
