// InterpreterFrames: frames in process stacks — pushing, returning (local, non-local),
// contexts married to frames, stack growth and overflow, process switches and traces.
#include <algorithm>
#include <cstring>

#include "vm/Frame.h"
#include "vm/Interpreter.h"
#include "vm/Objects.h"
#include "vm/ProcessFrames.h"
#include "vm/Scheduler.h"

namespace vm {

using space::HeapObject;

using process_stack::kRedZone;

namespace {
// Slots the stack may grow beyond its limit while a StackOverflow is being handled (the
// handler runs Smalltalk code: signal, handler search, the handler block, printing).
constexpr size_t kStackOverflowReserve = 1 << 16;
}  // namespace

// A process's stack may use a quarter of the heap at most: growing it doubles its size,
// and the old copy is garbage until the next full collection.
size_t Interpreter::stackLimitFor(Runtime& rt) {
  size_t heapShare = rt.space().config().maxOldBytes / 4 / sizeof(Oop);
  return std::max<size_t>(std::min(rt.options().maxStackSlots, heapShare), kRedZone * 4);
}

Interpreter::Interpreter(Runtime& rt)
    : rt_(rt), space_(rt.space()), maxStackSlots_(stackLimitFor(rt)), softStackLimit_(maxStackSlots_) {
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
  Oop stack = process_stack::stackOf(process);
  process_stack::Registers r = process_stack::registersOf(stack);
  regs_.stack = stack;
  regs_.slots = stack.object()->slots();
  regs_.sp = regs_.slots + r.top;
  regs_.fp = regs_.slots + r.fp;
  resetStackLimit();
  loadCodeRegisters(frame::code(regs_.fp));
  regs_.ip = regs_.code + r.ip;
}

void Interpreter::resetStackLimit() {
  size_t capacity = regs_.stack.object()->slotCount();
  regs_.limit = regs_.slots + std::min(capacity, softStackLimit_) - kRedZone;
}

// ---- stacks ------------------------------------------------------------------------------

bool Interpreter::ensureStackRoom(size_t slots) {
  if (regs_.sp + slots < regs_.limit) return true;
  size_t needed = size_t(regs_.sp - regs_.slots) + slots + kRedZone;
  if (needed >= softStackLimit_) return false;
  if (needed >= regs_.stack.object()->slotCount() && !growStack(needed)) return false;
  resetStackLimit();
  return true;
}

bool Interpreter::growStack(size_t needed) {
  saveRegisters();
  try {
    process_stack::grow(rt_, activeProcess(), needed, softStackLimit_);
  } catch (const space::HeapExhausted&) {
    // The collector ran and the heap still cannot hold the doubled stack: just enough,
    // then. grow() allocates before it changes anything, so a failure leaves all as it was.
    try {
      process_stack::grow(rt_, activeProcess(), needed, needed);
    } catch (const space::HeapExhausted&) {
      return false;
    }
  }
  loadRegisters();
  return true;
}

void Interpreter::pushFrame(Oop method, int argc) {
  int64_t h = codeHeaderOf(method);
  if (!ensureStackRoom(1 + frame::extent(h))) {
    // Stack overflow (the limit, or a heap that cannot hold a bigger stack): answer the
    // send by "Processor stackOverflow" (which signals StackOverflow), with a reserve of
    // stack to handle it. A second overflow inside that reserve is fatal.
    if (overflowDepth_ != 0) {
      failActiveProcess("stack overflow while handling a stack overflow");
      return;
    }
    overflowDepth_ = size_t(regs_.sp - regs_.slots);
    softStackLimit_ = overflowDepth_ + kStackOverflowReserve;
    regs_.sp -= argc;
    *regs_.sp = rt_.special(special::kProcessor);
    sendFromPrimitive(rt_.special(special::kSelectorStackOverflow), 0);
    return;
  }
  Oop* sp = regs_.sp;
  regs_.sp = frame::pushMethod(sp, argc, method, h, regs_.fp - regs_.slots, regs_.ip - regs_.code, nil_);
  regs_.fp = sp + 1;
  loadCodeRegisters(method);
  regs_.ip = regs_.code;
}

void Interpreter::pushBlockFrame(Oop closure, int argc) {
  Oop code = closure.object()->slot(closure_slot::kCode);
  int64_t h = codeHeaderOf(code);
  if (!ensureStackRoom(1 + frame::extent(h))) {
    pushFrame(code, argc);  // reports the overflow
    return;
  }
  Oop* sp = regs_.sp;  // the stack may have moved: the closure is re-read from it
  regs_.sp = frame::pushBlock(sp, argc, h, regs_.fp - regs_.slots, regs_.ip - regs_.code, nil_);
  regs_.fp = sp + 1;
  loadCodeRegisters(frame::code(regs_.fp));
  regs_.ip = regs_.code;
}

// ---- returns -----------------------------------------------------------------------------

bool Interpreter::returnFromFrame(Oop* fp, Oop value) {
  frame::widowContexts(regs_.slots, regs_.fp - regs_.slots, fp - regs_.slots, frame::Through::Target, nil_);
  int64_t caller = frame::callerIndex(fp);
  int64_t callerIp = frame::callerIp(fp);
  regs_.sp = frame::resultSlot(fp);
  *regs_.sp = value;
  if (caller == 0) {
    regs_.fp = fp;
    regs_.ip = regs_.code;
    pushProcessResultAndEnd(value);
    return false;
  }
  regs_.fp = regs_.slots + caller;
  loadCodeRegisters(frame::code(regs_.fp));
  regs_.ip = regs_.code + callerIp;
  if (overflowDepth_ != 0 && size_t(regs_.sp - regs_.slots) < overflowDepth_ / 2) {
    overflowDepth_ = 0;  // handled: re-arm StackOverflow
    softStackLimit_ = maxStackSlots_;
    resetStackLimit();
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
    if (CodeHeader::has(frame::header(f), CodeHeader::kUnwindProtect)) return f;
    if (frame::isBottom(f)) return nullptr;
    f = regs_.slots + frame::callerIndex(f);
  }
  return nullptr;
}

void Interpreter::nonLocalReturn(Oop value) {
  Oop closure = *frame::resultSlot(regs_.fp);
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
  Oop stack = process_stack::stackOf(process);
  Oop existing = frame::context(stack.object()->slots() + frameIndex);
  if (existing != nil_) return existing;
  space::LocalRoot p(space_.localRoots(), process);
  Oop ctx = space_.allocate(rt_.known.context, space::Format::Fixed, context_slot::kCount);
  ctx.object()->slots()[context_slot::kProcess] = p.get();
  ctx.object()->slots()[context_slot::kFrame] = Oop::fromSmallInteger(frameIndex);
  stack = process_stack::stackOf(p.get());
  space_.storePointer(stack, size_t(frameIndex + frame_slot::kContext), ctx);
  return ctx;
}

Oop Interpreter::contextOfCurrentFrame() {
  Oop existing = frame::context(regs_.fp);
  if (existing != nil_) return existing;
  saveRegisters();
  return contextFor(activeProcess(), regs_.fp - regs_.slots);
}

int64_t Interpreter::frameOfContext(Oop context) const {
  Oop frame = context.object()->slot(context_slot::kFrame);
  if (!frame.isSmallInteger()) return -1;
  Oop process = context.object()->slot(context_slot::kProcess);
  if (!process.isHeapObject() || process.object()->classIndex() != rt_.known.process) return -1;
  Oop stack = process_stack::stackOf(process);
  int64_t index = frame.smallInteger();
  if (index < int64_t(stack_slot::kFirstFrameSlot) ||
      size_t(index + frame_slot::kContext) >= stack.object()->slotCount()) {
    return -1;
  }
  return frame::context(stack.object()->slots() + index) == context ? index : -1;
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
  if (regs_.slots + index > regs_.fp) return PrimitiveResult::Failure;
  // The frame keeps its context; those above it are discarded.
  saveRegisters();
  process_stack::restartFrame(rt_, activeProcess(), index, frame::code(regs_.slots + index));
  loadRegisters();
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
  softStackLimit_ = maxStackSlots_;
  overflowDepth_ = 0;
  heartbeatsInSlice_ = 0;
  space_.setActiveStack(process_stack::stackOf(p.get()));
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

// ---- interrupts and errors -----------------------------------------------------------------

void Interpreter::handleInterrupts() {
  Scheduler& s = rt_.scheduler();
  if (rt_.host() != nullptr) rt_.host()->interrupted(rt_);
  if (rt_.evaluationOverdue() && activeProcess() == mainProcess_) {
    rt_.endOverdueEvaluation();
    return;
  }
  switch (s.pausePhase()) {
    case PausePhase::None:
      s.pollEvents();
      space_.collectAtHeartbeat();  // a marking or a sweep behind its pace catches up (Space.h)
      break;
    case PausePhase::Pausing:
      // Blocked processes are quiescent: no events are delivered until the pause ends.
      if (s.pauseDeadlinePassed()) {
        stop(StopReason::PauseTimedOut);
        return;
      }
      break;
    case PausePhase::Paused:
      // An evaluation in the paused space (an update's step or verification) runs without
      // polling: an event would only wake a blocked process to park it, writing its
      // semaphore and the process lists, pages a checkpoint has protected (under load that
      // was most of a verification's time). Events wait in the kernel until the
      // evaluation itself waits (Runtime::schedule polls then) or the pause ends.
      break;
  }
  Oop active = activeProcess();
  if (active == nil_) return;
  int ready = s.highestReadyPriority();
  int priority = Scheduler::priorityOf(active);
  if (ready > priority) {
    // Preempt: the interrupted process resumes first among its priority.
    saveRegisters();
    s.makeReadyFirst(active);
    transferTo(s.takeNextReady());
  } else if (++heartbeatsInSlice_ >= kHeartbeatsPerSlice && ready == priority) {
    // Its time slice is used up and another process of its priority is ready: round
    // robin, so that one long computation (a request's work) cannot hold the others.
    saveRegisters();
    s.makeReady(active);
    transferTo(s.takeNextReady());
  }
}

void Interpreter::longPrimitiveInterrupted() {
  // The flag is cleared: the next poll comes back here after the next heartbeat, and the
  // interrupt itself (timers, preemption) is handled once the primitive has answered.
  interruptRequested_.store(false, std::memory_order_relaxed);
  if (rt_.host() != nullptr) rt_.host()->interrupted(rt_);  // may switch to the other space
  rt_.scheduler().takeTerminationSignals();
  if (rt_.exitRequested()) throw LongOperationAbandoned{};
  // A pause cannot be reached inside a primitive: once past its deadline it is abandoned
  // here, as handleInterrupts would, and the primitive goes on.
  if (rt_.scheduler().pauseDeadlinePassed()) {
    rt_.pauseTimedOut();
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
    rt_.endProgram({ProgramOutcome::Kind::UnhandledError, 0, {}});
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

void Interpreter::endActiveProcessQuietly() {
  Oop process = activeProcess();
  if (process == nil_) return;
  saveRegisters();
  process.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Terminated));
  if (process == mainProcess_) {
    mainProcessEnded();
  } else {
    activeProcessEnded();
  }
}

void Interpreter::visitRoots(space::RootVisitor& v) {
  if (!regs_.stack.isNull()) v.visit(regs_.stack);
  v.visit(mainProcess_);
  v.visit(programMainProcess_);
}

}  // namespace vm
