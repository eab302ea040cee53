// SpaceMirror, execution: listing processes, reading their frames, creating, scheduling
// and terminating processes, and rewriting the stacks of processes that are not running
// (unwinding to a frame, restarting a frame with a new method version, inserting a frame).
//
// A process that is not running keeps its registers in its stack object (stack_slot:
// kTop, kFp, kIp); frames are laid out as frame_slot describes. Every rewrite keeps the
// interpreter's invariant: the top frame's operand stack ends at kTop, and each frame's
// caller fp/ip lead to a valid frame below.
#include <algorithm>
#include <cstring>

#include "mop/SpaceMirror.h"
#include "vm/ClassBuilder.h"
#include "vm/Globals.h"
#include "vm/Interpreter.h"
#include "vm/MethodDictionary.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/Opcodes.h"
#include "vm/ProcessFrames.h"
#include "vm/Scheduler.h"

namespace mop {

using space::LocalRoot;
using space::Oop;
using namespace vm;

namespace {

int64_t headerOf(Oop code) {
  return code.object()->slot(code_slot::kHeader).smallInteger();
}

ProcessStatus statusOf(Oop process) {
  switch (ProcessState(process.object()->slot(process_slot::kState).smallInteger())) {
    case ProcessState::Ready:
      return ProcessStatus::Ready;
    case ProcessState::Running:
      return ProcessStatus::Running;
    case ProcessState::Waiting:
      return ProcessStatus::Waiting;
    case ProcessState::Suspended:
      return ProcessStatus::Suspended;
    case ProcessState::Terminated:
      return ProcessStatus::Terminated;
    case ProcessState::Terminating:
      return ProcessStatus::Terminating;
    case ProcessState::Paused:
      return ProcessStatus::Paused;
  }
  return ProcessStatus::Suspended;
}

Oop lookup(vm::Runtime& rt, Oop cls, Oop selector) {
  for (Oop k = cls; k != rt.nil(); k = k.object()->slot(class_slot::kSuperclass)) {
    Oop m = method_dictionary::lookup(rt.space(), k.object()->slot(class_slot::kMethodDictionary), selector);
    if (!m.isNull()) return m;
  }
  return Oop();
}

// Frames above `frameIndex` are about to be discarded: their contexts become dead.
void widowFramesAbove(vm::Runtime& rt, Oop stack, int64_t frameIndex) {
  Oop* s = stack.object()->slots();
  for (int64_t f = s[stack_slot::kFp].smallInteger(); f != frameIndex && f != 0;
       f = s[f + frame_slot::kCallerFp].smallInteger()) {
    Oop ctx = s[f + frame_slot::kContext];
    if (ctx != rt.nil()) {
      ctx.object()->slots()[context_slot::kFrame] = rt.nil();
      s[f + frame_slot::kContext] = rt.nil();
    }
  }
}

// Chester class and its send:to:withArguments: method.
std::pair<Oop, Oop> trampolineFor(vm::Runtime& rt, const char* op) {
  Oop chester = rt.globals().at(rt.symbol("Chester"));
  if (chester.isNull() || !isClass(rt, chester)) throw MirrorError(op, "the space has no Chester class");
  Oop method = lookup(rt, rt.classOf(chester), rt.symbol("send:to:withArguments:"));
  if (method.isNull()) throw MirrorError(op, "Chester class does not understand #send:to:withArguments:");
  return {chester, method};
}

constexpr size_t kHeadroom = 64;  // free slots above a rewritten top frame (primitives push)

}  // namespace

// ---- listing -----------------------------------------------------------------------------

std::vector<ProcessView> SpaceMirror::processes() {
  requireQuiescent("processes");
  // Unreachable processes that never ran to their end would otherwise be listed.
  space().collectGarbage();
  std::vector<Oop> found;
  space().forEachObject([&](space::HeapObject* o) {
    if (o->classIndex() == rt_.known.process && statusOf(o->asOop()) != ProcessStatus::Terminated)
      found.push_back(o->asOop());
  });
  std::vector<Ref> held;
  held.reserve(found.size());
  for (Oop p : found) held.push_back(hold(p));  // no allocation in the heap: oops stay valid
  std::vector<ProcessView> views;
  for (const Ref& p : held) views.push_back(viewOf(p));
  return views;
}

void SpaceMirror::requireProcess(const char* operation, const Ref& process) const {
  checkSameSpace(operation, process);
  Oop p = process.get();
  if (!p.isHeapObject() || p.object()->classIndex() != rt_.known.process) {
    throw MirrorError(operation, "not a process: " + describe(process));
  }
}

ProcessView SpaceMirror::viewOf(const Ref& process) const {
  requireProcess("viewOf", process);
  ProcessView v;
  Oop p = process.get();
  v.process = process;
  Oop name = p.object()->slot(process_slot::kName);
  v.name = isString(rt_, name) ? std::string(bytesOf(name)) : "a Process";
  v.priority = Scheduler::priorityOf(p);
  v.status = statusOf(p);
  return v;
}

std::vector<FrameView> SpaceMirror::frames(const Ref& process, size_t maxFrames) const {
  requireProcess("frames", process);
  if (process.get() == rt_.scheduler().activeProcess()) rt_.interpreter().saveRegisters();
  std::vector<FrameInfo> infos = framesOf(rt_, process.get(), maxFrames);
  std::vector<FrameView> views;
  Oop stack = process.get().object()->slot(process_slot::kStack);
  for (size_t d = 0; d < infos.size(); d++) {
    const FrameInfo& f = infos[d];
    FrameView v;
    v.depth = d;
    v.method = hold(f.method);
    v.code = hold(f.code);
    v.receiver = hold(f.receiver);
    v.pc = f.pc;
    v.line = lineOf(f.code, f.pc);
    v.isBlock = f.isBlock;
    v.selector = std::string(bytesOf(f.code.object()->slot(code_slot::kSelector)));
    v.description = describeFrame(rt_, f);
    int64_t h = headerOf(f.code);
    unsigned argc = CodeHeader::args(h), temps = CodeHeader::temps(h);
    Oop* s = stack.object()->slots();
    for (unsigned i = 0; i < argc; i++) v.arguments.push_back(hold(s[f.index - int64_t(argc) + i]));
    for (unsigned i = 0; i < temps; i++) v.temporaries.push_back(hold(s[f.index + frame_slot::kFirstTemp + i]));
    views.push_back(std::move(v));
  }
  return views;
}

int64_t SpaceMirror::frameIndexAt(const char* operation, const Ref& process, size_t depth) const {
  std::vector<FrameInfo> infos = framesOf(rt_, process.get(), depth + 1);
  if (depth >= infos.size()) {
    throw MirrorError(operation, "the process has " + std::to_string(infos.size()) + " frames; there is no frame " +
                                     std::to_string(depth));
  }
  return infos[depth].index;
}

// ---- creating, scheduling, terminating -------------------------------------------------

// A send the MOP will set up must be one the receiver understands, with as many
// arguments (an Array, or nil for none) as the method takes.
void SpaceMirror::checkSend(const char* op, const Ref& receiver, std::string_view selector,
                            const Ref& arguments) const {
  Oop args = arguments.get();
  size_t argc = args == rt_.nil() ? 0 : isArray(rt_, args) ? args.object()->slotCount() : SIZE_MAX;
  if (argc == SIZE_MAX) throw MirrorError(op, "the arguments must be an Array or nil");
  Oop method = lookup(rt_, rt_.classOf(receiver.get()), rt_.symbol(selector));
  if (method.isNull()) throw MirrorError(op, describe(receiver) + " does not understand #" + std::string(selector));
  if (CodeHeader::args(headerOf(method)) != argc) {
    throw MirrorError(op, "#" + std::string(selector) + " takes " + std::to_string(CodeHeader::args(headerOf(method))) +
                              " arguments, not " + std::to_string(argc));
  }
}

Ref SpaceMirror::createProcess(const Ref& receiver, std::string_view selector, const Ref& arguments, int priority) {
  const char* op = "createProcess";
  requireQuiescent(op);
  checkSameSpace(op, receiver);
  checkSameSpace(op, arguments);
  if (priority < 1 || priority > Scheduler::kPriorities) {
    throw MirrorError(
        op, "priority " + std::to_string(priority) + " is outside 1.." + std::to_string(Scheduler::kPriorities));
  }
  checkSend(op, receiver, selector, arguments);
  Oop args = arguments.get();
  // The first frame is Chester class>>send:to:withArguments:, an ordinary send, so
  // primitives, quick methods and later redefinitions are honoured.
  auto [chester, trampoline] = trampolineFor(rt_, op);
  LocalRoot c(space().localRoots(), chester), t(space().localRoots(), trampoline);
  LocalRoot r(space().localRoots(), receiver.get());
  LocalRoot argArray(space().localRoots(), args == rt_.nil() ? newArray(rt_, 0) : arguments.get());
  Oop trampolineArgs = newArray(rt_, 3);
  space().storePointer(trampolineArgs, 0, rt_.symbol(selector));
  space().storePointer(trampolineArgs, 1, r.get());
  space().storePointer(trampolineArgs, 2, argArray.get());
  return hold(rt_.interpreter().newProcessSending(c.get(), t.get(), trampolineArgs, priority));
}

void SpaceMirror::installProcess(const Ref& process) {
  const char* op = "installProcess";
  requireQuiescent(op);
  requireProcess(op, process);
  if (statusOf(process.get()) != ProcessStatus::Suspended) throw MirrorError(op, "the process is not suspended");
  rt_.scheduler().makeReady(process.get());
}

void SpaceMirror::terminateProcess(const Ref& process) {
  const char* op = "terminateProcess";
  requireQuiescent(op);
  requireProcess(op, process);
  Oop p = process.get();
  ProcessStatus st = statusOf(p);
  if (st == ProcessStatus::Terminated) throw MirrorError(op, "the process has already ended");
  if (p == rt_.scheduler().exclusiveProcess()) throw MirrorError(op, "the process is running an evaluation");
  Oop list = p.object()->slot(process_slot::kMyList);
  if (list != rt_.nil()) rt_.scheduler().remove(list, p);
  // Unwind blocks run in the process itself when it is next scheduled (Process>>terminateUnwinding).
  bool unwind = false;
  for (const FrameInfo& f : framesOf(rt_, p)) {
    if (CodeHeader::has(headerOf(f.code), CodeHeader::kUnwindProtect)) unwind = true;
  }
  if (unwind && st != ProcessStatus::Terminating) {
    rt_.scheduler().makeReady(p);
    p.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Terminating));
  } else {
    p.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Terminated));
  }
}

// ---- rewriting stacks --------------------------------------------------------------------

namespace {
// Makes sure the stack of a process that is not running has `slots` slots, moving it to a
// bigger stack object when needed. Answers the (possibly new) stack.
Oop ensureStackSlots(vm::Runtime& rt, Oop process, size_t slots) {
  space::Space& sp = rt.space();
  Oop stack = process.object()->slot(process_slot::kStack);
  size_t capacity = stack.object()->slotCount();
  if (slots <= capacity) return stack;
  if (slots > rt.options().maxStackSlots) throw MirrorError("stack", "the process's stack would exceed its limit");
  LocalRoot p(sp.localRoots(), process);
  size_t wanted = std::max(capacity * 2, slots);
  Oop bigger = sp.allocate(rt.known.processStack, space::Format::Stack, wanted, space::Tenure::Old);
  Oop old = p.get().object()->slot(process_slot::kStack);
  size_t top = size_t(old.object()->slot(stack_slot::kTop).smallInteger());
  std::memcpy(bigger.object()->words(), old.object()->words(), (top + 1) * sizeof(Oop));
  for (size_t i = top + 1; i < wanted; i++) bigger.object()->slots()[i] = rt.nil();
  old.object()->slots()[stack_slot::kTop] = Oop::fromSmallInteger(stack_slot::kFirstFrameSlot - 1);
  sp.storePointer(p.get(), process_slot::kStack, bigger);
  sp.registerStack(bigger);
  sp.rememberIfOld(bigger.object());
  return bigger;
}

void requireNotRunning(vm::Runtime& rt, const char* op, Oop process) {
  ProcessState st = ProcessState(process.object()->slot(process_slot::kState).smallInteger());
  if (st == ProcessState::Terminated || st == ProcessState::Terminating) throw MirrorError(op, "the process has ended");
  if (process == rt.scheduler().activeProcess()) throw MirrorError(op, "the process is running");
}
}  // namespace

void SpaceMirror::cutAbove(Oop process, int64_t frameIndex) {
  widowFramesAbove(rt_, process.object()->slot(process_slot::kStack), frameIndex);
}

void SpaceMirror::unwindTo(const Ref& process, size_t depth, const Ref& value) {
  const char* op = "unwindTo";
  requireQuiescent(op);
  requireProcess(op, process);
  checkSameSpace(op, value);
  requireNotRunning(rt_, op, process.get());
  if (depth == 0) throw MirrorError(op, "frame 0 is already the current frame");
  int64_t target = frameIndexAt(op, process, depth);
  int64_t callee = frameIndexAt(op, process, depth - 1);
  Oop stack = process.get().object()->slot(process_slot::kStack);
  Oop* s = stack.object()->slots();
  int64_t argc = CodeHeader::args(headerOf(s[callee + frame_slot::kMethod]));
  int64_t resultSlot = callee - argc - 1;  // the callee's receiver: where its result goes
  int64_t resumeIp = s[callee + frame_slot::kCallerIp].smallInteger();
  cutAbove(process.get(), target);
  s[stack_slot::kTop] = Oop::fromSmallInteger(resultSlot);
  s[stack_slot::kFp] = Oop::fromSmallInteger(target);
  s[stack_slot::kIp] = Oop::fromSmallInteger(resumeIp);
  space().storePointer(stack, size_t(resultSlot), value.get());
}

void SpaceMirror::restartFrame(const Ref& process, size_t depth, const std::optional<Ref>& newMethod) {
  const char* op = "restartFrame";
  requireQuiescent(op);
  requireProcess(op, process);
  requireNotRunning(rt_, op, process.get());
  int64_t target = frameIndexAt(op, process, depth);
  Oop stack = process.get().object()->slot(process_slot::kStack);
  Oop code = stack.object()->slot(size_t(target + frame_slot::kMethod));
  Oop receiver = stack.object()->slot(size_t(target + frame_slot::kSelf));
  bool isBlock = CodeHeader::has(headerOf(code), CodeHeader::kIsBlock);
  Oop replacement = code;
  if (newMethod) {
    checkSameSpace(op, *newMethod);
    Oop m = newMethod->get();
    if (isBlock)
      throw MirrorError(op, "frame " + std::to_string(depth) + " runs a block; only method frames take a new method");
    if (!m.isHeapObject() || m.object()->classIndex() != rt_.known.method) {
      throw MirrorError(op, "not a compiled method: " + describe(*newMethod));
    }
    if (CodeHeader::args(headerOf(m)) != CodeHeader::args(headerOf(code))) {
      throw MirrorError(op, "the new method takes " + std::to_string(CodeHeader::args(headerOf(m))) +
                                " arguments; the frame has " + std::to_string(CodeHeader::args(headerOf(code))));
    }
    if (m.object()->slot(code_slot::kSelector) != code.object()->slot(code_slot::kSelector)) {
      throw MirrorError(op, "the new method is #" + std::string(bytesOf(m.object()->slot(code_slot::kSelector))) +
                                ", the frame runs #" + std::string(bytesOf(code.object()->slot(code_slot::kSelector))));
    }
    Oop holder = m.object()->slot(code_slot::kHolder);
    if (isClass(rt_, holder) && !inheritsFrom(rt_, rt_.classOf(receiver), holder)) {
      throw MirrorError(op, "the new method belongs to " + vm::className(rt_, holder) +
                                ", not to the receiver's class " + vm::className(rt_, rt_.classOf(receiver)));
    }
    replacement = m;
  }
  int64_t h = headerOf(replacement);
  unsigned temps = CodeHeader::temps(h), copied = isBlock ? CodeHeader::copied(h) : 0;
  size_t need = size_t(target) + frame_slot::kFirstTemp + temps + CodeHeader::stack(h) + kHeadroom;
  LocalRoot rep(space().localRoots(), replacement);
  cutAbove(process.get(), target);
  stack = ensureStackSlots(rt_, process.get(), need);
  Oop* s = stack.object()->slots();
  space().storePointer(stack, size_t(target + frame_slot::kMethod), rep.get());
  if (isBlock) {
    Oop closure = s[target - int64_t(CodeHeader::args(h)) - 1];
    for (unsigned i = 0; i < copied; i++)
      s[target + frame_slot::kFirstTemp + i] = closure.object()->slot(closure_slot::kFirstCopied + i);
  }
  for (unsigned i = copied; i < temps; i++) s[target + frame_slot::kFirstTemp + i] = rt_.nil();
  s[stack_slot::kTop] = Oop::fromSmallInteger(target + frame_slot::kFirstTemp + int64_t(temps) - 1);
  s[stack_slot::kFp] = Oop::fromSmallInteger(target);
  s[stack_slot::kIp] = Oop::fromSmallInteger(0);
  space().rememberIfOld(stack.object());
}

void SpaceMirror::insertFrame(const Ref& process, const Ref& receiver, std::string_view selector,
                              const Ref& arguments) {
  const char* op = "insertFrame";
  requireQuiescent(op);
  requireProcess(op, process);
  checkSameSpace(op, receiver);
  checkSameSpace(op, arguments);
  requireNotRunning(rt_, op, process.get());
  Oop p = process.get();
  if (statusOf(p) != ProcessStatus::Paused) {
    throw MirrorError(op, "the process is not stopped at an update point (its status must be Paused)");
  }
  Oop stack = p.object()->slot(process_slot::kStack);
  Oop* s = stack.object()->slots();
  int64_t fp = s[stack_slot::kFp].smallInteger();
  int64_t ip = s[stack_slot::kIp].smallInteger();
  Oop code = s[fp + frame_slot::kMethod];
  const uint8_t* bytecodes = code.object()->slot(code_slot::kBytecodes).object()->bytes();
  if (ip < 1 || Op(bytecodes[ip - 1]) != Op::UpdatePoint) {
    throw MirrorError(op, "the process did not stop at an update point");
  }
  checkSend(op, receiver, selector, arguments);
  Oop args = arguments.get();
  // The new frame is Chester class>>send:to:withArguments: (see createProcess); its
  // receiver replaces the nil that the update point pushed, so its result becomes the
  // (discarded) value of that update point.
  auto [chester, trampoline] = trampolineFor(rt_, op);
  LocalRoot c(space().localRoots(), chester), t(space().localRoots(), trampoline);
  LocalRoot r(space().localRoots(), receiver.get()),
      a(space().localRoots(), args == rt_.nil() ? newArray(rt_, 0) : args);
  int64_t h = headerOf(t.get());
  unsigned temps = CodeHeader::temps(h);
  int64_t receiverSlot = stack.object()->slot(stack_slot::kTop).smallInteger();  // the update point's nil
  int64_t newFp = receiverSlot + 3 + 1;
  size_t need = size_t(newFp) + frame_slot::kFirstTemp + temps + CodeHeader::stack(h) + kHeadroom;
  LocalRoot symRoot(space().localRoots(), rt_.symbol(selector));
  stack = ensureStackSlots(rt_, process.get(), need);
  s = stack.object()->slots();
  s[receiverSlot] = c.get();
  s[receiverSlot + 1] = symRoot.get();
  s[receiverSlot + 2] = r.get();
  s[receiverSlot + 3] = a.get();
  s[newFp + frame_slot::kMethod] = t.get();
  s[newFp + frame_slot::kCallerFp] = Oop::fromSmallInteger(fp);
  s[newFp + frame_slot::kCallerIp] = Oop::fromSmallInteger(ip);
  s[newFp + frame_slot::kContext] = rt_.nil();
  s[newFp + frame_slot::kSelf] = c.get();
  for (unsigned i = 0; i < temps; i++) s[newFp + frame_slot::kFirstTemp + i] = rt_.nil();
  s[stack_slot::kTop] = Oop::fromSmallInteger(newFp + frame_slot::kFirstTemp + int64_t(temps) - 1);
  s[stack_slot::kFp] = Oop::fromSmallInteger(newFp);
  s[stack_slot::kIp] = Oop::fromSmallInteger(0);
  space().rememberIfOld(stack.object());
}

}  // namespace mop
