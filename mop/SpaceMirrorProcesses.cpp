// SpaceMirror, processes: listing processes, reading their frames, creating, scheduling
// and terminating processes, and rewriting the stacks of processes that are not running
// (unwinding to a frame, restarting a frame with a new method version, inserting a frame).
// The stack edits themselves are vm/ProcessStack.h's; this file validates the request
// and names what is wrong.
#include "mop/SpaceMirror.h"

#include <algorithm>

#include "vm/CompiledCode.h"
#include "vm/Frame.h"
#include "vm/Globals.h"
#include "vm/MethodDictionary.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/ProcessFrames.h"
#include "vm/ProcessStack.h"
#include "vm/Scheduler.h"

namespace mop {

using space::LocalRoot;
using space::Oop;
using namespace vm;

namespace {

// The mirror's name for the state of `process`.
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

// Chester class and its send:to:withArguments: method.
std::pair<Oop, Oop> trampolineFor(vm::Runtime& rt, const char* op) {
  Oop chester = rt.globals().at(rt.symbol("Chester"));
  if (chester.isNull() || !isClass(rt, chester)) throw MirrorError(op, "the space has no Chester class");
  Oop method = lookupSelector(rt, rt.classOf(chester), rt.symbol("send:to:withArguments:"));
  if (method.isNull()) throw MirrorError(op, "Chester class does not understand #send:to:withArguments:");
  return {chester, method};
}

// The trampoline's arguments for sending `selector` to `receiver` with `arguments` (an
// Array, or nil for none): an Array {selector. receiver. arguments}.
Oop trampolineArguments(vm::Runtime& rt, std::string_view selector, const Ref& receiver, const Ref& arguments) {
  space::Space& sp = rt.space();
  LocalRoot args(sp.localRoots(), arguments.get() == rt.nil() ? newArray(rt, 0) : arguments.get());
  LocalRoot sel(sp.localRoots(), rt.symbol(selector));
  Oop result = newArray(rt, 3);
  sp.storePointer(result, 0, sel.get());
  sp.storePointer(result, 1, receiver.get());
  sp.storePointer(result, 2, args.get());
  return result;
}

}  // namespace

// ---- listing -----------------------------------------------------------------------------

std::vector<ProcessView> SpaceMirror::processes() {
  requireQuiescent("processes");
  // Unreachable processes that never ran to their end would otherwise be listed.
  space().collectGarbage();
  return processesWithoutCollecting();
}

std::vector<ProcessView> SpaceMirror::processesWithoutCollecting() {
  requireQuiescent("processes");
  // Every process has a stack, and every stack is registered with the space until a full
  // collection finds it dead: the registered stacks name the processes without a walk
  // over the heap (8 ms for the hub with 100,000 extra objects). A stack its process
  // outgrew names it too, and is skipped.
  std::vector<Oop> found;
  for (Oop stack : space().registeredStacks()) {
    Oop p = space::Space::follow(stack.object()->slot(stack_slot::kProcess));
    if (!p.isHeapObject() || p.object()->classIndex() != rt_.known.process) continue;
    if (space::Space::follow(p.object()->slot(process_slot::kStack)) != stack) continue;
    if (statusOf(p) != ProcessStatus::Terminated) found.push_back(p);
  }
  std::sort(found.begin(), found.end(), [](Oop a, Oop b) { return a.bits() < b.bits(); });  // heap order, as before
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

namespace {

// The names of the arguments and temporaries of `code` (debug_info::kTempNames), when
// there are exactly `count` of them.
std::vector<std::string> valueNamesOf(Runtime& rt, Oop code, size_t count) {
  Oop info = code.object()->slot(code_slot::kDebugInfo);
  if (!info.isHeapObject() || info.object()->slotCount() <= debug_info::kTempNames) return {};
  Oop names = info.object()->slot(debug_info::kTempNames);
  if (!names.isHeapObject() || names.object()->slotCount() != count) return {};
  std::vector<std::string> out;
  for (size_t i = 0; i < count; i++) {
    Oop name = names.object()->slot(i);
    if (!isSymbol(rt, name)) return {};
    out.emplace_back(bytesOf(name));
  }
  return out;
}

}  // namespace

std::vector<FrameView> SpaceMirror::frames(const Ref& process, size_t maxFrames) const {
  requireProcess("frames", process);
  std::vector<FrameInfo> infos = framesOf(rt_, process.get(), maxFrames);
  std::vector<FrameView> views;
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
    for (Oop a : argumentsOf(f)) v.arguments.push_back(hold(a));  // handles allocate nothing in the heap
    for (Oop t : temporariesOf(f)) v.temporaries.push_back(hold(t));
    v.valueNames = valueNamesOf(rt_, f.code, v.arguments.size() + v.temporaries.size());
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
  Oop method = lookupSelector(rt_, rt_.classOf(receiver.get()), rt_.symbol(selector));
  if (method.isNull()) throw MirrorError(op, describe(receiver) + " does not understand #" + std::string(selector));
  if (argCountOf(method) != argc) {
    throw MirrorError(op, "#" + std::string(selector) + " takes " + std::to_string(argCountOf(method)) +
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
  // The first frame is Chester class>>send:to:withArguments:, an ordinary send, so
  // primitives, quick methods and later redefinitions are honoured.
  auto [chester, trampoline] = trampolineFor(rt_, op);
  LocalRoot c(space().localRoots(), chester), t(space().localRoots(), trampoline);
  Oop args = trampolineArguments(rt_, selector, receiver, arguments);
  return hold(process_stack::newProcessSending(rt_, c.get(), t.get(), args, priority));
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
    if (CodeHeader::has(codeHeaderOf(f.code), CodeHeader::kUnwindProtect)) unwind = true;
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
// Stack edits apply to processes that are neither running nor ended.
void requireNotRunning(vm::Runtime& rt, const char* op, Oop process) {
  ProcessState st = ProcessState(process.object()->slot(process_slot::kState).smallInteger());
  if (st == ProcessState::Terminated || st == ProcessState::Terminating) throw MirrorError(op, "the process has ended");
  if (process == rt.scheduler().activeProcess()) throw MirrorError(op, "the process is running");
}
// A waiting process whose frames were cut back waits no more: what it waited for was in a
// discarded frame. It leaves its semaphore's list and becomes ready — parked until the
// pause ends when the space is paused.
void stopWaiting(vm::Runtime& rt, Oop process) {
  if (ProcessState(process.object()->slot(process_slot::kState).smallInteger()) != ProcessState::Waiting) return;
  Oop list = process.object()->slot(process_slot::kMyList);
  if (list != rt.nil()) rt.scheduler().remove(list, process);
  if (rt.scheduler().pausePhase() == vm::PausePhase::None) {
    rt.scheduler().makeReady(process);
  } else {
    rt.scheduler().park(process);
  }
}
}  // namespace

void SpaceMirror::unwindTo(const Ref& process, size_t depth, const Ref& value) {
  const char* op = "unwindTo";
  requireQuiescent(op);
  requireProcess(op, process);
  checkSameSpace(op, value);
  requireNotRunning(rt_, op, process.get());
  if (depth == 0) throw MirrorError(op, "frame 0 is already the current frame");
  frameIndexAt(op, process, depth);  // the target frame exists
  // The frame above the target returns `value`: the target's send answers it.
  process_stack::returnFrom(rt_, process.get(), frameIndexAt(op, process, depth - 1), value.get());
  stopWaiting(rt_, process.get());
}

void SpaceMirror::restartFrame(const Ref& process, size_t depth, const std::optional<Ref>& newMethod) {
  const char* op = "restartFrame";
  requireQuiescent(op);
  requireProcess(op, process);
  requireNotRunning(rt_, op, process.get());
  int64_t target = frameIndexAt(op, process, depth);
  FrameInfo frame = framesOf(rt_, process.get(), depth + 1).back();
  Oop code = frame.code;
  Oop replacement = code;
  if (newMethod) {
    checkSameSpace(op, *newMethod);
    Oop m = newMethod->get();
    if (frame.isBlock)
      throw MirrorError(op, "frame " + std::to_string(depth) + " runs a block; only method frames take a new method");
    if (!m.isHeapObject() || m.object()->classIndex() != rt_.known.method) {
      throw MirrorError(op, "not a compiled method: " + describe(*newMethod));
    }
    if (argCountOf(m) != argCountOf(code)) {
      throw MirrorError(op, "the new method takes " + std::to_string(argCountOf(m)) + " arguments; the frame has " +
                                std::to_string(argCountOf(code)));
    }
    if (m.object()->slot(code_slot::kSelector) != code.object()->slot(code_slot::kSelector)) {
      throw MirrorError(op, "the new method is #" + std::string(bytesOf(m.object()->slot(code_slot::kSelector))) +
                                ", the frame runs #" + std::string(bytesOf(code.object()->slot(code_slot::kSelector))));
    }
    Oop holder = m.object()->slot(code_slot::kHolder);
    if (isClass(rt_, holder) && !inheritsFrom(rt_, rt_.classOf(frame.receiver), holder)) {
      throw MirrorError(op, "the new method belongs to " + vm::className(rt_, holder) +
                                ", not to the receiver's class " + vm::className(rt_, rt_.classOf(frame.receiver)));
    }
    replacement = m;
  }
  requireStackRoom(op, process, size_t(target) + frame::extent(codeHeaderOf(replacement)));
  process_stack::restartFrame(rt_, process.get(), target, replacement);
  stopWaiting(rt_, process.get());
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
  if (!process_stack::stoppedAtUpdatePoint(p)) throw MirrorError(op, "the process did not stop at an update point");
  checkSend(op, receiver, selector, arguments);
  // The new frame is Chester class>>send:to:withArguments: (see createProcess); its
  // receiver replaces the nil that the update point pushed, so its result becomes the
  // (discarded) value of that update point.
  auto [chester, trampoline] = trampolineFor(rt_, op);
  requireStackRoom(op, process,
                   size_t(process_stack::registersOf(process_stack::stackOf(p)).top) + 1 + argCountOf(trampoline) +
                       frame::extent(codeHeaderOf(trampoline)));
  LocalRoot c(space().localRoots(), chester), t(space().localRoots(), trampoline);
  Oop args = trampolineArguments(rt_, selector, receiver, arguments);
  process_stack::insertFrameAtUpdatePoint(rt_, process.get(), c.get(), t.get(), args);
}

void SpaceMirror::requireStackRoom(const char* operation, const Ref& process, size_t slots) const {
  size_t limit = rt_.options().maxStackSlots;
  if (slots + process_stack::kRedZone > limit) {
    throw MirrorError(operation, "the process's stack would exceed its limit of " + std::to_string(limit) + " slots (" +
                                     viewOf(process).name + ")");
  }
}

}  // namespace mop
