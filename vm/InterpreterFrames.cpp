// InterpreterFrames: frames in process stacks — pushing, returning (local, non-local),
// contexts married to frames, stack growth and overflow, process switches and traces.
#include <algorithm>
#include <cstring>

#include "vm/Interpreter.h"
#include "vm/Objects.h"
#include "vm/ProcessFrames.h"
#include "vm/Scheduler.h"

namespace vm {

using space::HeapObject;

namespace {
constexpr size_t kRedZone = 32;  // slots kept free for primitives' pushes
constexpr size_t kInitialStackSlots = 1024;
constexpr size_t kStackOverflowReserve = 1 << 16;  // room to handle a StackOverflow

int64_t headerOf(Oop code) {
  return code.object()->slot(code_slot::kHeader).smallInteger();
}
}  // namespace

Interpreter::Interpreter(Runtime& rt) : rt_(rt), space_(rt.space()), softStackLimit_(rt.options().maxStackSlots) {
  nil_ = rt.nil();
  true_ = rt.trueObject();
  false_ = rt.falseObject();
  mainProcess_ = nil_;
  programMainProcess_ = nil_;
}

Oop Interpreter::activeProcess() const {
  return rt_.scheduler().activeProcess();
}

void Interpreter::loadRegisters() {
  Oop process = activeProcess();
  if (process == nil_) {
    regs_ = Registers{};
    return;
  }
  Oop stack = process.object()->slot(process_slot::kStack);
  regs_.stack = stack;
  regs_.slots = stack.object()->slots();
  Oop* s = regs_.slots;
  regs_.sp = s + s[stack_slot::kTop].smallInteger();
  regs_.fp = s + s[stack_slot::kFp].smallInteger();
  size_t capacity = stack.object()->slotCount();
  regs_.limit = s + std::min(capacity, softStackLimit_) - kRedZone;
  loadFrameRegisters();
  regs_.ip = regs_.code + s[stack_slot::kIp].smallInteger();
}

// ---- stacks ------------------------------------------------------------------------------

void Interpreter::growStack(size_t minimumSlots) {
  Oop process = activeProcess();
  Oop old = regs_.stack;
  size_t capacity = old.object()->slotCount();
  size_t wanted = std::max(capacity * 2, minimumSlots + kRedZone + 64);
  wanted = std::min(wanted, softStackLimit_);
  saveRegisters();
  Oop bigger = space_.allocate(rt_.known.processStack, space::Format::Stack, wanted, space::Tenure::Old);
  old = regs_.stack;
  process = activeProcess();
  size_t top = size_t(old.object()->slot(stack_slot::kTop).smallInteger());
  std::memcpy(bigger.object()->words(), old.object()->words(), (top + 1) * sizeof(Oop));
  for (size_t i = top + 1; i < wanted; i++) bigger.object()->slots()[i] = nil_;
  old.object()->slots()[stack_slot::kTop] = Oop::fromSmallInteger(stack_slot::kFirstFrameSlot - 1);
  space_.storePointer(process, process_slot::kStack, bigger);
  space_.registerStack(bigger);
  space_.setActiveStack(bigger);
  loadRegisters();
}

bool Interpreter::ensureStackRoom(size_t slots) {
  if (regs_.sp + slots < regs_.limit) return true;
  size_t needed = size_t(regs_.sp - regs_.slots) + slots + kRedZone;
  size_t capacity = regs_.stack.object()->slotCount();
  if (needed < softStackLimit_) {
    if (needed >= capacity) growStack(needed);
    size_t cap = regs_.stack.object()->slotCount();
    regs_.limit = regs_.slots + std::min(cap, softStackLimit_) - kRedZone;
    return true;
  }
  return false;
}

void Interpreter::pushFrame(Oop method, int argc) {
  int64_t h = headerOf(method);
  unsigned temps = CodeHeader::temps(h);
  size_t need = temps + CodeHeader::stack(h) + frame_slot::kFirstTemp + 2;
  if (!ensureStackRoom(need)) {
    // Stack overflow: answer the send by "Processor stackOverflow" (which signals
    // StackOverflow), with a reserve of stack to handle it. A second overflow inside that
    // reserve is fatal.
    if (softStackLimit_ > rt_.options().maxStackSlots) {
      failActiveProcess("stack overflow while handling a stack overflow");
      return;
    }
    softStackLimit_ = rt_.options().maxStackSlots + kStackOverflowReserve;
    regs_.sp -= argc;
    *regs_.sp = rt_.special(special::kProcessor);
    ensureStackRoom(need + 64);
    sendFromPrimitive(rt_.special(special::kSelectorStackOverflow), 0);
    return;
  }
  Oop* sp = regs_.sp;
  Oop* nfp = sp + 1;
  nfp[frame_slot::kMethod] = method;
  nfp[frame_slot::kCallerFp] = Oop::fromSmallInteger(regs_.fp - regs_.slots);
  nfp[frame_slot::kCallerIp] = Oop::fromSmallInteger(regs_.ip - regs_.code);
  nfp[frame_slot::kContext] = nil_;
  nfp[frame_slot::kSelf] = sp[-argc];
  for (unsigned i = 0; i < temps; i++) nfp[frame_slot::kFirstTemp + i] = nil_;
  regs_.sp = nfp + frame_slot::kFirstTemp + temps - 1;
  regs_.fp = nfp;
  loadFrameRegisters();
  regs_.ip = regs_.code;
}

void Interpreter::pushBlockFrame(Oop closure, int argc) {
  Oop code = closure.object()->slot(closure_slot::kCode);
  int64_t h = headerOf(code);
  unsigned temps = CodeHeader::temps(h);
  unsigned copied = CodeHeader::copied(h);
  size_t need = temps + CodeHeader::stack(h) + frame_slot::kFirstTemp + 2;
  if (!ensureStackRoom(need)) {
    pushFrame(code, argc);  // reports the overflow
    return;
  }
  closure = regs_.sp[-argc];
  HeapObject* c = closure.object();
  Oop* nfp = regs_.sp + 1;
  nfp[frame_slot::kMethod] = c->slot(closure_slot::kCode);
  nfp[frame_slot::kCallerFp] = Oop::fromSmallInteger(regs_.fp - regs_.slots);
  nfp[frame_slot::kCallerIp] = Oop::fromSmallInteger(regs_.ip - regs_.code);
  nfp[frame_slot::kContext] = nil_;
  nfp[frame_slot::kSelf] = c->slot(closure_slot::kReceiver);
  Oop* t = nfp + frame_slot::kFirstTemp;
  for (unsigned i = 0; i < copied; i++) t[i] = c->slot(closure_slot::kFirstCopied + i);
  for (unsigned i = copied; i < temps; i++) t[i] = nil_;
  regs_.sp = t + temps - 1;
  regs_.fp = nfp;
  loadFrameRegisters();
  regs_.ip = regs_.code;
}

// ---- returns -----------------------------------------------------------------------------

void Interpreter::widowContextsDownTo(Oop* frame) {
  for (Oop* f = regs_.fp;;) {
    Oop ctx = f[frame_slot::kContext];
    if (ctx != nil_) {
      ctx.object()->slots()[context_slot::kFrame] = nil_;
      f[frame_slot::kContext] = nil_;
    }
    if (f == frame) break;
    int64_t caller = f[frame_slot::kCallerFp].smallInteger();
    if (caller == 0) break;
    f = regs_.slots + caller;
  }
}

bool Interpreter::returnFromFrame(Oop* frame, Oop value) {
  widowContextsDownTo(frame);
  int argc = int(CodeHeader::args(headerOf(frame[frame_slot::kMethod])));
  int64_t caller = frame[frame_slot::kCallerFp].smallInteger();
  int64_t callerIp = frame[frame_slot::kCallerIp].smallInteger();
  regs_.sp = frame - argc - 1;
  *regs_.sp = value;
  if (caller == 0) {
    regs_.fp = frame;
    regs_.ip = regs_.code;
    pushProcessResultAndEnd(value);
    return false;
  }
  regs_.fp = regs_.slots + caller;
  loadFrameRegisters();
  regs_.ip = regs_.code + callerIp;
  if (softStackLimit_ > rt_.options().maxStackSlots &&
      size_t(regs_.sp - regs_.slots) < rt_.options().maxStackSlots / 2) {
    softStackLimit_ = rt_.options().maxStackSlots;  // re-arm StackOverflow
    size_t cap = regs_.stack.object()->slotCount();
    regs_.limit = regs_.slots + std::min(cap, softStackLimit_) - kRedZone;
  }
  return true;
}

void Interpreter::pushProcessResultAndEnd(Oop /*result*/) {
  Oop process = activeProcess();
  process.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Terminated));
  saveRegisters();
  if (process == mainProcess_) {
    mainProcessEnded();
    return;
  }
  activeProcessEnded();
}

void Interpreter::mainProcessEnded() {
  // Nothing runs until the host decides (it may start another main process).
  rt_.scheduler().setActiveProcess(nil_);
  space_.setActiveStack(Oop());
  regs_ = Registers{};
  stop(StopReason::MainProcessEnded);
}

Oop* Interpreter::firstUnwindFrameAbove(Oop* home) {
  for (Oop* f = regs_.fp; f != home;) {
    if (CodeHeader::has(headerOf(f[frame_slot::kMethod]), CodeHeader::kUnwindProtect)) return f;
    int64_t caller = f[frame_slot::kCallerFp].smallInteger();
    if (caller == 0) return nullptr;
    f = regs_.slots + caller;
  }
  return nullptr;
}

void Interpreter::nonLocalReturn(Oop value) {
  int argc = int(CodeHeader::args(headerOf(regs_.fp[frame_slot::kMethod])));
  Oop closure = regs_.fp[-argc - 1];
  Oop home = closure.object()->slot(closure_slot::kOuterContext);
  int64_t homeIndex = home == nil_ ? -1 : frameOfContext(home);
  if (homeIndex < 0 || home.object()->slot(context_slot::kProcess) != activeProcess()) {
    // The home method has returned (or runs in another process): #escapedBlock:. If that
    // returns, its answer is the block's value (the compiler emits a BlockReturn next).
    *regs_.sp = closure.object()->slot(closure_slot::kReceiver);
    push(closure);
    sendFromPrimitive(rt_.special(special::kSelectorEscapedBlock), 1);
    return;
  }
  Oop* homeFp = regs_.slots + homeIndex;
  if (Oop* unwind = firstUnwindFrameAbove(homeFp)) {
    // Unwind blocks must run first: let the home context do it in Smalltalk
    // (Context>>nonLocalReturn:through:).
    space::LocalRoot v(space_.localRoots(), value), h(space_.localRoots(), home);
    Oop unwindContext = contextFor(activeProcess(), unwind - regs_.slots);
    *regs_.sp = h.get();
    push(v.get());
    push(unwindContext);
    sendFromPrimitive(rt_.special(special::kSelectorNonLocalReturnThrough), 2);
    return;
  }
  returnFromFrame(homeFp, value);
}

// ---- contexts ----------------------------------------------------------------------------

Oop Interpreter::contextFor(Oop process, int64_t frameIndex) {
  Oop stack = process.object()->slot(process_slot::kStack);
  Oop existing = stack.object()->slot(size_t(frameIndex + frame_slot::kContext));
  if (existing != nil_) return existing;
  space::LocalRoot p(space_.localRoots(), process);
  Oop ctx = space_.allocate(rt_.known.context, space::Format::Fixed, context_slot::kCount);
  ctx.object()->slots()[context_slot::kProcess] = p.get();
  ctx.object()->slots()[context_slot::kFrame] = Oop::fromSmallInteger(frameIndex);
  stack = p.get().object()->slot(process_slot::kStack);
  space_.storePointer(stack, size_t(frameIndex + frame_slot::kContext), ctx);
  return ctx;
}

Oop Interpreter::contextOfCurrentFrame() {
  Oop existing = regs_.fp[frame_slot::kContext];
  if (existing != nil_) return existing;
  saveRegisters();
  return contextFor(activeProcess(), regs_.fp - regs_.slots);
}

int64_t Interpreter::frameOfContext(Oop context) const {
  Oop frame = context.object()->slot(context_slot::kFrame);
  if (!frame.isSmallInteger()) return -1;
  Oop process = context.object()->slot(context_slot::kProcess);
  if (!process.isHeapObject() || process.object()->classIndex() != rt_.known.process) return -1;
  Oop stack = process.object()->slot(process_slot::kStack);
  int64_t index = frame.smallInteger();
  if (index < int64_t(stack_slot::kFirstFrameSlot) ||
      size_t(index + frame_slot::kContext) >= stack.object()->slotCount()) {
    return -1;
  }
  return stack.object()->slot(size_t(index + frame_slot::kContext)) == context ? index : -1;
}

PrimitiveResult Interpreter::returnToContext(Oop context, Oop value) {
  int64_t index = frameOfContext(context);
  if (index < 0 || context.object()->slot(context_slot::kProcess) != activeProcess()) return PrimitiveResult::Failure;
  if (regs_.slots + index > regs_.fp) return PrimitiveResult::Failure;
  returnFromFrame(regs_.slots + index, value);
  return PrimitiveResult::ControlTransferred;
}

PrimitiveResult Interpreter::restartContext(Oop context) {
  int64_t index = frameOfContext(context);
  if (index < 0 || context.object()->slot(context_slot::kProcess) != activeProcess()) return PrimitiveResult::Failure;
  Oop* frame = regs_.slots + index;
  if (frame > regs_.fp) return PrimitiveResult::Failure;
  // Widow the frames above, keep this frame's context.
  if (frame != regs_.fp) {
    for (Oop* f = regs_.fp; f != frame; f = regs_.slots + f[frame_slot::kCallerFp].smallInteger()) {
      Oop ctx = f[frame_slot::kContext];
      if (ctx != nil_) ctx.object()->slots()[context_slot::kFrame] = nil_;
      f[frame_slot::kContext] = nil_;
    }
  }
  Oop code = frame[frame_slot::kMethod];
  int64_t h = headerOf(code);
  unsigned temps = CodeHeader::temps(h), copied = 0;
  if (CodeHeader::has(h, CodeHeader::kIsBlock)) {
    copied = CodeHeader::copied(h);
    Oop closure = frame[-int(CodeHeader::args(h)) - 1];
    for (unsigned i = 0; i < copied; i++)
      frame[frame_slot::kFirstTemp + i] = closure.object()->slot(closure_slot::kFirstCopied + i);
  }
  for (unsigned i = copied; i < temps; i++) frame[frame_slot::kFirstTemp + i] = nil_;
  regs_.fp = frame;
  regs_.sp = frame + frame_slot::kFirstTemp + temps - 1;
  loadFrameRegisters();
  regs_.ip = regs_.code;
  return PrimitiveResult::ControlTransferred;
}

// ---- processes ---------------------------------------------------------------------------

void Interpreter::transferTo(Oop process) {
  Scheduler& s = rt_.scheduler();
  Oop current = activeProcess();
  if (current != nil_ && !regs_.stack.isNull()) saveRegisters();
  space::LocalRoot p(space_.localRoots(), process);
  s.setActiveProcess(p.get());
  Oop state = p.get().object()->slot(process_slot::kState);
  p.get().object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Running));
  softStackLimit_ = rt_.options().maxStackSlots;
  space_.setActiveStack(p.get().object()->slot(process_slot::kStack));
  loadRegisters();
  if (state.isSmallInteger() && state.smallInteger() == int64_t(ProcessState::Terminating)) {
    // Terminated while not running: unwind it now, in its own stack.
    push(p.get());
    sendFromPrimitive(rt_.special(special::kSelectorTerminateUnwinding), 0);
  }
}

void Interpreter::activeProcessEnded() {
  Scheduler& s = rt_.scheduler();
  s.setActiveProcess(nil_);
  space_.setActiveStack(Oop());
  regs_ = Registers{};
  Oop next = s.takeNextReady();
  if (next != nil_) {
    transferTo(next);
  } else {
    stopRequested_ = true;
    stopReason_ = StopReason::Idle;
  }
}

void Interpreter::switchToNextReady() {
  Scheduler& s = rt_.scheduler();
  saveRegisters();
  Oop next = s.takeNextReady();
  if (next != nil_) {
    transferTo(next);
    return;
  }
  s.setActiveProcess(nil_);
  space_.setActiveStack(Oop());
  regs_ = Registers{};
  stop(StopReason::Idle);
}

bool Interpreter::resumeProcess(Oop process) {
  Scheduler& s = rt_.scheduler();
  Oop active = activeProcess();
  if (active == nil_ || Scheduler::priorityOf(process) <= Scheduler::priorityOf(active) ||
      !s.mayRunWhilePaused(process)) {
    s.makeReady(process);
    return false;
  }
  saveRegisters();
  s.makeReadyFirst(active);
  transferTo(process);
  return true;
}

namespace {
Oop newStack(Runtime& rt, size_t slots) {
  space::Space& sp = rt.space();
  Oop s = sp.allocate(rt.known.processStack, space::Format::Stack, slots, space::Tenure::Old);
  s.object()->slots()[stack_slot::kTop] = Oop::fromSmallInteger(stack_slot::kFirstFrameSlot - 1);
  sp.registerStack(s);
  return s;
}

Oop newProcessObject(Runtime& rt, Oop stack, int priority) {
  space::Space& sp = rt.space();
  space::LocalRoot st(sp.localRoots(), stack);
  Oop p = sp.allocate(rt.known.process, space::Format::Fixed, process_slot::kCount, space::Tenure::Old);
  sp.storePointer(p, process_slot::kStack, st.get());
  p.object()->slots()[process_slot::kPriority] = Oop::fromSmallInteger(priority);
  p.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Suspended));
  sp.storePointer(st.get(), stack_slot::kProcess, p);
  return p;
}
}  // namespace

Oop Interpreter::newProcessSending(Oop receiver, Oop method, Oop args, int priority) {
  space::LocalRoot r(space_.localRoots(), receiver), m(space_.localRoots(), method), a(space_.localRoots(), args);
  int64_t h = headerOf(m.get());
  size_t argc = CodeHeader::args(h);
  size_t need = stack_slot::kFirstFrameSlot + 1 + argc + frame_slot::kFirstTemp + CodeHeader::temps(h) +
                CodeHeader::stack(h) + kRedZone + 64;
  Oop stack = newStack(rt_, std::max(kInitialStackSlots, need * 2));
  Oop process = newProcessObject(rt_, stack, priority);
  stack = process.object()->slot(process_slot::kStack);
  Oop* s = stack.object()->slots();
  size_t i = stack_slot::kFirstFrameSlot;
  s[i] = r.get();
  for (size_t k = 0; k < argc; k++) s[++i] = a.get().object()->slot(k);
  Oop* fp = s + i + 1;
  fp[frame_slot::kMethod] = m.get();
  fp[frame_slot::kCallerFp] = Oop::fromSmallInteger(0);
  fp[frame_slot::kCallerIp] = Oop::fromSmallInteger(0);
  fp[frame_slot::kContext] = nil_;
  fp[frame_slot::kSelf] = r.get();
  unsigned temps = CodeHeader::temps(h);
  for (unsigned t = 0; t < temps; t++) fp[frame_slot::kFirstTemp + t] = nil_;
  s[stack_slot::kTop] = Oop::fromSmallInteger(fp - s + frame_slot::kFirstTemp + temps - 1);
  s[stack_slot::kFp] = Oop::fromSmallInteger(fp - s);
  s[stack_slot::kIp] = Oop::fromSmallInteger(0);
  space_.rememberIfOld(stack.object());
  return process;
}

Oop Interpreter::newProcessForBlock(Oop closure, int priority) {
  space::LocalRoot c(space_.localRoots(), closure);
  Oop code = closure.object()->slot(closure_slot::kCode);
  int64_t h = headerOf(code);
  size_t need = stack_slot::kFirstFrameSlot + 1 + frame_slot::kFirstTemp + CodeHeader::temps(h) + CodeHeader::stack(h) +
                kRedZone + 64;
  Oop stack = newStack(rt_, std::max(kInitialStackSlots, need * 2));
  Oop process = newProcessObject(rt_, stack, priority);
  stack = process.object()->slot(process_slot::kStack);
  HeapObject* cl = c.get().object();
  Oop* s = stack.object()->slots();
  size_t i = stack_slot::kFirstFrameSlot;
  s[i] = c.get();
  Oop* fp = s + i + 1;
  fp[frame_slot::kMethod] = cl->slot(closure_slot::kCode);
  fp[frame_slot::kCallerFp] = Oop::fromSmallInteger(0);
  fp[frame_slot::kCallerIp] = Oop::fromSmallInteger(0);
  fp[frame_slot::kContext] = nil_;
  fp[frame_slot::kSelf] = cl->slot(closure_slot::kReceiver);
  unsigned temps = CodeHeader::temps(h), copied = CodeHeader::copied(h);
  for (unsigned t = 0; t < copied; t++) fp[frame_slot::kFirstTemp + t] = cl->slot(closure_slot::kFirstCopied + t);
  for (unsigned t = copied; t < temps; t++) fp[frame_slot::kFirstTemp + t] = nil_;
  s[stack_slot::kTop] = Oop::fromSmallInteger(fp - s + frame_slot::kFirstTemp + temps - 1);
  s[stack_slot::kFp] = Oop::fromSmallInteger(fp - s);
  s[stack_slot::kIp] = Oop::fromSmallInteger(0);
  space_.rememberIfOld(stack.object());
  return process;
}

// ---- interrupts and errors -----------------------------------------------------------------

void Interpreter::handleInterrupts() {
  Scheduler& s = rt_.scheduler();
  if (rt_.host() != nullptr) rt_.host()->interrupted(rt_);
  switch (s.pausePhase()) {
    case PausePhase::None:
      s.pollEvents();
      break;
    case PausePhase::Pausing:
      // Blocked processes are quiescent: no events are delivered until the pause ends.
      if (s.pauseDeadlinePassed()) {
        stop(StopReason::PauseTimedOut);
        return;
      }
      break;
    case PausePhase::Paused:
      if (s.exclusiveProcess() != nil_) s.pollEvents();  // others made ready are parked
      break;
  }
  Oop active = activeProcess();
  if (active == nil_) return;
  int ready = s.highestReadyPriority();
  if (ready > Scheduler::priorityOf(active)) {
    // Preempt: the interrupted process resumes first among its priority.
    saveRegisters();
    s.makeReadyFirst(active);
    transferTo(s.takeNextReady());
  }
}

void Interpreter::handleUpdatePoint() {
  Scheduler& s = rt_.scheduler();
  Oop active = activeProcess();
  if (s.pausePhase() == PausePhase::None || active == nil_ || active == s.exclusiveProcess()) return;
  saveRegisters();
  s.park(active);
  switchToNextReady();
}

std::string Interpreter::stackTrace(int maxFrames) {
  Oop process = activeProcess();
  if (process == nil_ || regs_.stack.isNull()) return std::string();
  saveRegisters();
  return stackTraceOf(rt_, process, size_t(maxFrames));
}

void Interpreter::failActiveProcess(const std::string& message) {
  std::FILE* err = rt_.options().err;
  std::fflush(rt_.options().out);
  std::fprintf(err, "%s\n%s", message.c_str(), stackTrace().c_str());
  std::fflush(err);
  Oop process = activeProcess();
  if (process == nil_) return;
  process.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Terminated));
  if (process == mainProcess_ && process == programMainProcess()) {
    rt_.requestExit(1);
    stopRequested_ = true;
    stopReason_ = StopReason::Exit;
    return;
  }
  if (process == mainProcess_) {  // an evaluation failed: it ends, the program goes on
    mainProcessEnded();
    return;
  }
  activeProcessEnded();
}

void Interpreter::visitRoots(space::RootVisitor& v) {
  if (!regs_.stack.isNull()) v.visit(regs_.stack);
  v.visit(mainProcess_);
  v.visit(programMainProcess_);
}

}  // namespace vm
