// Process primitives: the scheduler (active process, yield, termination), process
// creation from blocks, semaphores and timers.
#include "vm/Frame.h"
#include "vm/ProcessStack.h"
#include "vm/Scheduler.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

bool isProcess(Runtime& rt, Oop o) {
  return o.isHeapObject() && o.object()->classIndex() == rt.known.process;
}
bool isSemaphore(Runtime& rt, Oop o) {
  if (!o.isHeapObject() || o.object()->format() != space::Format::Fixed || o.object()->slotCount() < 3) return false;
  return inheritsFrom(rt, rt.classOf(o), rt.special(special::kClassSemaphore));
}

ESPELL_PRIMITIVE(schedActiveProcess) {
  return answer(in, argc, in.activeProcess());
}

ESPELL_PRIMITIVE(schedYield) {
  Scheduler& s = in.runtime().scheduler();
  in.popThenPush(argc, receiver(in, argc));
  Oop active = in.activeProcess();
  if (s.highestReadyPriority() < Scheduler::priorityOf(active)) return PrimitiveResult::Success;
  in.saveRegisters();
  s.makeReady(active);
  in.switchToNextReady();
  return PrimitiveResult::ControlTransferred;
}

ESPELL_PRIMITIVE(schedTerminateActive) {
  in.popThenPush(argc, receiver(in, argc));
  Oop active = in.activeProcess();
  active.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Terminated));
  in.saveRegisters();
  if (active == in.mainProcess()) {
    in.mainProcessEnded();
    return PrimitiveResult::ControlTransferred;
  }
  in.activeProcessEnded();
  return PrimitiveResult::ControlTransferred;
}

ESPELL_PRIMITIVE(schedMainProcess) {
  return answer(in, argc, in.programMainProcess());
}

ESPELL_PRIMITIVE(schedHighestReadyPriority) {
  return answerInt(in, argc, in.runtime().scheduler().highestReadyPriority());
}

ESPELL_PRIMITIVE(blockNewProcess) {
  Oop closure = receiver(in, argc);
  if (argCountOf(closure.object()->slot(closure_slot::kCode)) != 0) return kFail;
  int priority =
      in.activeProcess() == in.runtime().nil() ? Scheduler::kUserPriority : Scheduler::priorityOf(in.activeProcess());
  Oop p = process_stack::newProcessForBlock(in.runtime(), closure, priority);
  return answer(in, argc, p);
}

ESPELL_PRIMITIVE(processResume) {
  Runtime& rt = in.runtime();
  Oop p = receiver(in, argc);
  if (!isProcess(rt, p)) return kFail;
  int64_t state = p.object()->slot(process_slot::kState).smallInteger();
  in.popThenPush(argc, p);
  if (state != int64_t(ProcessState::Suspended) && state != int64_t(ProcessState::Terminating)) {
    return PrimitiveResult::Success;  // already runnable, waiting or finished
  }
  if (state == int64_t(ProcessState::Terminating)) {
    rt.scheduler().makeReady(p);
    p.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Terminating));
    return PrimitiveResult::Success;
  }
  in.saveRegisters();
  return in.resumeProcess(p) ? PrimitiveResult::ControlTransferred : PrimitiveResult::Success;
}

ESPELL_PRIMITIVE(processSuspend) {
  Runtime& rt = in.runtime();
  Oop p = receiver(in, argc);
  if (!isProcess(rt, p)) return kFail;
  in.popThenPush(argc, p);
  p.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Suspended));
  if (p == in.activeProcess()) {
    in.switchToNextReady();
    return PrimitiveResult::ControlTransferred;
  }
  Oop list = p.object()->slot(process_slot::kMyList);
  if (list != rt.nil()) rt.scheduler().remove(list, p);
  return PrimitiveResult::Success;
}

// Whether a frame of `process` runs an ensure: or ifCurtailed: (whose blocks must run
// before the process ends).
bool hasUnwindFrames(Oop process) {
  Oop stack = process_stack::stackOf(process);
  Oop* slots = stack.object()->slots();
  for (int64_t f = process_stack::registersOf(stack).fp; f != 0; f = frame::callerIndex(slots + f)) {
    if (CodeHeader::has(frame::header(slots + f), CodeHeader::kUnwindProtect)) return true;
  }
  return false;
}

// Terminates a process other than the active one. When it has unwind blocks to run, it is
// scheduled once more in the Terminating state and unwinds itself (#terminateUnwinding).
ESPELL_PRIMITIVE(processPrimTerminate) {
  Runtime& rt = in.runtime();
  Oop p = receiver(in, argc);
  if (!isProcess(rt, p) || p == in.activeProcess()) return kFail;
  in.popThenPush(argc, p);
  int64_t state = p.object()->slot(process_slot::kState).smallInteger();
  if (state == int64_t(ProcessState::Terminated)) return PrimitiveResult::Success;
  Oop list = p.object()->slot(process_slot::kMyList);
  if (list != rt.nil()) rt.scheduler().remove(list, p);
  if (state != int64_t(ProcessState::Terminating) && hasUnwindFrames(p)) {
    rt.scheduler().makeReady(p);
    p.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Terminating));
  } else {
    p.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Terminated));
  }
  return PrimitiveResult::Success;
}

ESPELL_PRIMITIVE(processIsTerminated) {
  Oop p = receiver(in, argc);
  if (!isProcess(in.runtime(), p)) return kFail;
  return answerBool(in, argc,
                    p.object()->slot(process_slot::kState).smallInteger() == int64_t(ProcessState::Terminated));
}

ESPELL_PRIMITIVE(semaphoreSignal) {
  Runtime& rt = in.runtime();
  Oop sem = receiver(in, argc);
  if (!isSemaphore(rt, sem)) return kFail;
  in.popThenPush(argc, sem);
  Oop woken = rt.scheduler().signal(sem);
  if (woken == rt.nil()) return PrimitiveResult::Success;
  Oop active = in.activeProcess();
  if (Scheduler::priorityOf(woken) <= Scheduler::priorityOf(active)) return PrimitiveResult::Success;
  // Preempt: the woken process has a higher priority.
  in.saveRegisters();
  rt.scheduler().remove(rt.special(special::kProcessor)
                            .object()
                            ->slot(scheduler_slot::kReadyLists)
                            .object()
                            ->slot(size_t(Scheduler::priorityOf(woken))),
                        woken);
  rt.scheduler().makeReadyFirst(active);
  in.transferTo(woken);
  return PrimitiveResult::ControlTransferred;
}

ESPELL_PRIMITIVE(semaphoreWait) {
  Runtime& rt = in.runtime();
  Oop sem = receiver(in, argc);
  if (!isSemaphore(rt, sem)) return kFail;
  in.popThenPush(argc, sem);
  Oop excess = sem.object()->slot(list_slot::kExcessSignals);
  int64_t n = excess.isSmallInteger() ? excess.smallInteger() : 0;
  if (n > 0) {
    sem.object()->slots()[list_slot::kExcessSignals] = Oop::fromSmallInteger(n - 1);
    return PrimitiveResult::Success;
  }
  Oop active = in.activeProcess();
  rt.scheduler().addLast(sem, active);
  active.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Waiting));
  in.switchToNextReady();
  return PrimitiveResult::ControlTransferred;
}

ESPELL_PRIMITIVE(semaphoreSignalAfter) {
  Runtime& rt = in.runtime();
  Oop sem = receiver(in, argc), micros = arg(in, argc, 0);
  if (!isSemaphore(rt, sem) || !micros.isSmallInteger()) return kFail;
  int64_t id = rt.scheduler().signalAt(sem, Scheduler::nowMicros() + micros.smallInteger());
  return answer(in, argc, Oop::fromSmallInteger(id));
}

ESPELL_PRIMITIVE(semaphoreCancelTimer) {
  Runtime& rt = in.runtime();
  Oop sem = receiver(in, argc), id = arg(in, argc, 0);
  if (!isSemaphore(rt, sem) || !id.isSmallInteger()) return kFail;
  rt.scheduler().cancelTimer(id.smallInteger());
  return answer(in, argc, sem);
}

}  // namespace
}  // namespace prim

void registerProcessPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("ProcessorScheduler>>activeProcess", schedActiveProcess);
  t.add("ProcessorScheduler>>yield", schedYield);
  t.add("ProcessorScheduler>>mainProcess", schedMainProcess);
  t.add("ProcessorScheduler>>terminateActive", schedTerminateActive);
  t.add("ProcessorScheduler>>highestReadyPriority", schedHighestReadyPriority);
  t.add("Block>>newProcess", withReceiver<isClosureObject, blockNewProcess>);
  t.add("Process>>resume", processResume);
  t.add("Process>>suspend", processSuspend);
  t.add("Process>>primTerminate", processPrimTerminate);
  t.add("Process>>isTerminated", processIsTerminated);
  t.add("Semaphore>>signal", semaphoreSignal);
  t.add("Semaphore>>wait", semaphoreWait);
  t.add("Semaphore>>signalAfterMicroseconds:", semaphoreSignalAfter);
  t.add("Semaphore>>cancelTimer:", semaphoreCancelTimer);
}

}  // namespace vm
