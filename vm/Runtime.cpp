// Runtime: wiring of one space's subsystems, the SOM launcher protocol, and roots.
#include "vm/Runtime.h"

#include <filesystem>

#include "vm/ClassBuilder.h"
#include "vm/ClassLoader.h"
#include "vm/Interpreter.h"
#include "vm/MethodCache.h"
#include "vm/MethodDictionary.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/Primitives.h"
#include "vm/ProcessFrames.h"
#include "vm/ProcessStack.h"
#include "vm/Scheduler.h"
#include "vm/compiler/Parser.h"

namespace vm {

namespace {
// Program time starts when the VM process does (every runtime of it shares the origin).
int64_t processStartMicros() {
  static const int64_t start = Scheduler::nowMicros();
  return start;
}
const int64_t kProcessStartTouched = processStartMicros();
}  // namespace

Runtime::Runtime(space::Space& space, RuntimeOptions options)
    : space_(space), options_(std::move(options)), globals_(*this), programClockOrigin_(kProcessStartTouched) {
  nil_ = space_.nil();
  true_ = space_.trueObject();
  false_ = space_.falseObject();
  classes_ = std::make_unique<ClassBuilder>(*this);
  loader_ = std::make_unique<ClassLoader>(*this);
  loader_->setClassPath(options_.classPath);
  methodCache_ = std::make_unique<MethodCache>();
  primitives_ = std::make_unique<PrimitiveTable>();
  scheduler_ = std::make_unique<Scheduler>(*this);
  interpreter_ = std::make_unique<Interpreter>(*this);
  space_.addRootProvider(this);
}

Runtime::~Runtime() {
  scheduler_->stopHeartbeat();
  space_.removeRootProvider(this);
}

void Runtime::refreshCaches() {
  auto idx = [&](size_t slot) -> ClassIndex {
    Oop c = special(slot);
    return c.isHeapObject() && c != nil_ ? ClassIndex(c.object()->rawHash()) : 0;
  };
  known.object = idx(special::kClassObject);
  known.array = idx(special::kClassArray);
  known.byteArray = idx(special::kClassByteArray);
  known.string = idx(special::kClassString);
  known.symbol = idx(special::kClassSymbol);
  known.doubleClass = idx(special::kClassDouble);
  known.largeInteger = idx(special::kClassLargeInteger);
  known.method = idx(special::kClassMethod);
  known.primitive = idx(special::kClassPrimitive);
  known.compiledBlock = idx(special::kClassCompiledBlock);
  known.context = idx(special::kClassContext);
  known.process = idx(special::kClassProcess);
  known.processStack = idx(special::kClassProcessStack);
  known.semaphore = idx(special::kClassSemaphore);
  known.linkedList = idx(special::kClassLinkedList);
  known.association = idx(special::kClassAssociation);
  known.methodDictionary = idx(special::kClassMethodDictionary);
  known.metaclass = idx(special::kClassMetaclass);
  known.block[0] = idx(special::kClassBlock1);
  known.block[1] = idx(special::kClassBlock2);
  known.block[2] = idx(special::kClassBlock3);
  known.block[3] = idx(special::kClassBlock4);
  known.block[4] = idx(special::kClassBlock);
}

void Runtime::endProgram(ProgramOutcome outcome) {
  outcome_ = std::move(outcome);
  exitRequested_ = true;
  interpreter_->stop(StopReason::Exit);
}

Oop Runtime::loadProgramClass(const std::string& classNameOrFile, ProgramOutcome& outcome) {
  namespace fs = std::filesystem;
  using Kind = ProgramOutcome::Kind;
  std::string name = classNameOrFile;
  try {
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".som") == 0) {
      fs::path p(name);
      std::string dir = p.parent_path().string();
      loader_->prependToClassPath(dir.empty() ? "." : dir);
      name = p.stem().string();
      // The kernel comes first on the class path, so a file named after a kernel class
      // would silently run the kernel's class instead.
      if (!globals().at(symbol(name)).isNull()) {
        outcome = {Kind::KernelClassName, 0, classNameOrFile};
        return Oop();
      }
    }
    Oop cls = loader_->loadClass(name);
    if (cls.isNull()) outcome = {Kind::NotFound, 0, name};
    return cls;
  } catch (const CompileError& e) {
    outcome = {Kind::CompileError, 0, e.what()};
    return Oop();
  }
}

ProgramOutcome Runtime::runMain(const std::string& classNameOrFile, const std::vector<std::string>& args) {
  using Kind = ProgramOutcome::Kind;
  ProgramOutcome failure;
  Oop cls = loadProgramClass(classNameOrFile, failure);
  if (cls.isNull()) return failure;
  std::string name(bytesOf(cls.object()->slot(class_slot::kName)));
  space::LocalRoot c(space_.localRoots(), cls);
  // SOM passes the class name and then the program arguments.
  space::LocalRoot argArray(space_.localRoots(), newArray(*this, args.size() + 1));
  {
    Oop s = newString(*this, name);
    space_.storePointer(argArray.get(), 0, s);
  }
  for (size_t i = 0; i < args.size(); i++) {
    Oop s = newString(*this, args[i]);
    space_.storePointer(argArray.get(), i + 1, s);
  }
  int64_t spec = c.get().object()->slot(class_slot::kInstanceSpec).smallInteger();
  Oop instance = space_.allocate(ClassIndex(c.get().object()->rawHash()), space::Format(InstanceSpec::format(spec)),
                                 InstanceSpec::fixedFields(spec));
  space::LocalRoot inst(space_.localRoots(), instance);
  Oop method = lookupSelector(*this, c.get(), symbol("run:"));
  space::LocalRoot wrapper(space_.localRoots(), newArray(*this, method.isNull() ? 0 : 1));
  if (method.isNull()) {
    method = lookupSelector(*this, c.get(), symbol("run"));
    if (method.isNull()) return {Kind::NoEntryPoint, 0, name};
  } else {
    space_.storePointer(wrapper.get(), 0, argArray.get());
  }
  Oop process = process_stack::newProcessSending(*this, inst.get(), method, wrapper.get(), Scheduler::kUserPriority);
  interpreter_->setMainProcess(process);
  interpreter_->setProgramMainProcess(process);
  interpreter_->transferTo(process);
  return runProgram();
}

ProgramOutcome Runtime::runProgram() {
  scheduler_->watchTerminationSignals();
  scheduler_->startHeartbeat();
  StopReason r = schedule();
  scheduler_->stopHeartbeat();
  std::fflush(options_.out);
  if (r == StopReason::Deadlock) outcome_ = {ProgramOutcome::Kind::Deadlock, 0, {}};
  return outcome_;
}

int64_t Runtime::programMicros() const {
  return Scheduler::nowMicros() - programClockOrigin_;
}

void Runtime::setProgramMicros(int64_t micros) {
  programClockOrigin_ = Scheduler::nowMicros() - micros;
}

ProgramOutcome Runtime::resumeMain() {
  // The processes parked when the image was taken continue after the start-up list.
  scheduler_->endPause();
  Oop method = lookupSelector(*this, classOf(globals_.at(symbol("system"))), symbol("resumedFromImage"));
  if (!method.isNull()) {
    Oop startUp = process_stack::newProcessSending(*this, globals_.at(symbol("system")), method, newArray(*this, 0),
                                                   Scheduler::kUserPriority + 1);
    interpreter_->transferTo(startUp);
  } else {
    Oop next = scheduler_->takeNextReady();
    if (next != nil_) interpreter_->transferTo(next);
  }
  return runProgram();
}

StopReason Runtime::runUntilEnded(Oop process) {
  interpreter_->setMainProcess(process);
  if (scheduler_->activeProcess() == nil_) {
    interpreter_->transferTo(process);
  } else {
    scheduler_->makeReady(process);
  }
  // The heartbeat ticks while this runs, and is left as it was found: a thread started
  // here is suspended afterwards, not joined, and the next evaluation resumes it (an
  // update evaluates up to four times in a row, a thread cost 50-100 us to start and join).
  bool ticking = scheduler_->heartbeatRunning() && !scheduler_->heartbeatSuspended();
  if (!ticking) scheduler_->startHeartbeat();
  StopReason r = schedule();
  if (!ticking) scheduler_->suspendHeartbeat();
  std::fflush(options_.out);
  return r;
}

StopReason Runtime::schedule() {
  for (;;) {
    // An exit may have been requested while the host had control (run() starts afresh).
    if (exitRequested_) return StopReason::Exit;
    StopReason r = interpreter_->run();
    if (r == StopReason::MainProcessEnded || r == StopReason::Exit || exitRequested_) return r;
    if (r == StopReason::PauseTimedOut) {
      pauseTimedOut();
      continue;
    }
    // Idle: nothing is ready.
    if (scheduler_->activeProcess() == nil_) {
      Oop next = scheduler_->takeNextReady();
      if (next != nil_) {
        interpreter_->transferTo(next);
        continue;
      }
    }
    if (scheduler_->pausePhase() == PausePhase::Pausing) {
      pauseReached();
      continue;
    }
    if (evaluationOverdue()) {
      endOverdueEvaluation();  // it waits for something that has not come in time
      return StopReason::MainProcessEnded;
    }
    if (!waitForEvents()) return StopReason::Deadlock;
    if (exitRequested_) return StopReason::Exit;
    Oop next = scheduler_->takeNextReady();
    if (next != nil_) interpreter_->transferTo(next);
  }
}

bool Runtime::waitForEvents() {
  return (host_ ? host_ : &standaloneHost_)->waitForEvents(*this);
}

bool Runtime::isPaused() const {
  return scheduler_->pausePhase() == PausePhase::Paused;
}

void Runtime::requestPause(int64_t deadlineMicros) {
  if (scheduler_->pausePhase() != PausePhase::None) return;
  pauseRequestedAt_ = Scheduler::nowMicros();
  scheduler_->requestPause(deadlineMicros);
}

// Every process is parked or blocked: hand over to the host until it ends the pause.
void Runtime::pauseReached() {
  scheduler_->enterPaused();
  (host_ ? host_ : &standaloneHost_)->paused(*this);
  scheduler_->endPause();
}

void Runtime::pauseTimedOut() {
  PauseReport report = pauseReport(Scheduler::nowMicros() - pauseRequestedAt_);
  scheduler_->endPause();
  (host_ ? host_ : &standaloneHost_)->pauseAbandoned(*this, report);
}

PauseReport Runtime::pauseReport(int64_t waitedMicros) {
  PauseReport report;
  report.waitedMicros = waitedMicros;
  for (Oop p = scheduler_->pausedProcesses().object()->slot(list_slot::kFirstLink); p != nil_;
       p = p.object()->slot(process_slot::kNextLink)) {
    report.arrived++;
  }
  auto describe = [&](Oop p, const char* state) {
    ProcessReport r;
    Oop name = p.object()->slot(process_slot::kName);
    r.name = isString(*this, name) ? std::string(bytesOf(name)) : "a Process";
    r.priority = Scheduler::priorityOf(p);
    r.state = state;
    r.where = stackTraceOf(*this, p, 3);
    report.notArrived.push_back(std::move(r));
  };
  Oop active = scheduler_->activeProcess();
  if (active != nil_) describe(active, "running");
  Oop lists = scheduler_->processor().object()->slot(scheduler_slot::kReadyLists);
  for (int pri = Scheduler::kPriorities; pri >= 1; pri--) {
    for (Oop p = lists.object()->slot(size_t(pri)).object()->slot(list_slot::kFirstLink); p != nil_;
         p = p.object()->slot(process_slot::kNextLink)) {
      describe(p, "ready");
    }
  }
  return report;
}

// ---- the standalone host ----------------------------------------------------------------

bool ExecutionHost::waitForEvents(Runtime& rt) {
  return rt.scheduler().waitForEvents();
}
void ExecutionHost::paused(Runtime&) {}
void ExecutionHost::pauseAbandoned(Runtime& rt, const PauseReport& report) {
  std::fprintf(rt.options().err, "espell: %s", report.describe().c_str());
}

std::string PauseReport::describe() const {
  std::string out = "pause abandoned after " + std::to_string(waitedMicros / 1000) +
                    " ms: " + std::to_string(notArrived.size()) + " process(es) did not reach an update point (" +
                    std::to_string(arrived) + " did)\n";
  for (const ProcessReport& p : notArrived) {
    out += "  " + p.name + " (priority " + std::to_string(p.priority) + ", " + p.state + ")\n";
    size_t start = 0;
    while (start < p.where.size()) {
      size_t end = p.where.find('\n', start);
      if (end == std::string::npos) end = p.where.size();
      out += "    " + p.where.substr(start, end - start) + "\n";
      start = end + 1;
    }
  }
  return out;
}

Oop Runtime::evaluate(std::string_view source) {
  return evaluate(source, {}, {});
}

void Runtime::prepareEvaluation(std::string_view source, const std::vector<std::string>& parameters) {
  classes_->prepareStatements(classOf(nil_), source, parameters, "<evaluate>");
}

Oop Runtime::evaluate(std::string_view source, const std::vector<std::string>& parameters,
                      std::span<const space::Handle> arguments) {
  if (parameters.size() != arguments.size()) throw std::invalid_argument("evaluate: as many arguments as parameters");
  exitRequested_ = false;
  lastUnhandledError_.clear();
  classes_->flushBatch();  // code run in the middle of an update sees its changes so far
  Oop method = classes_->compileStatements(classOf(nil_), source, parameters, "<evaluate>");
  space::LocalRoot m(space_.localRoots(), method);
  Oop args = newArray(*this, arguments.size());
  for (size_t i = 0; i < arguments.size(); i++) space_.storePointer(args, i, arguments[i].get());
  Oop process = process_stack::newProcessSending(*this, nil_, m.get(), args, Scheduler::kUserPriority);
  space::LocalRoot p(space_.localRoots(), process);
  Oop previousMain = interpreter_->mainProcess();
  // While paused, the evaluation runs alone: any other process made ready is parked.
  bool exclusive = isPaused();
  if (exclusive) scheduler_->setExclusiveProcess(p.get());
  bool nested = evaluating_;
  evaluating_ = true;
  StopReason r = runUntilEnded(p.get());
  evaluating_ = nested;
  if (exclusive) scheduler_->setExclusiveProcess(nil_);
  interpreter_->setMainProcess(previousMain);
  if (r == StopReason::Exit || exitRequested_) {
    // An unhandled error in an evaluation with no program around it ends the "program".
    throw std::runtime_error(lastUnhandledError_.empty() ? std::string("the program exited")
                                                         : "the evaluation failed: " + lastUnhandledError_);
  }
  if (r != StopReason::MainProcessEnded) throw std::runtime_error("the evaluation did not complete (deadlock)");
  Oop stack = p.get().object()->slot(process_slot::kStack);
  // The bottom frame's result replaces its receiver (see Interpreter::returnFromFrame).
  if (p.get().object()->slot(process_slot::kState).smallInteger() != int64_t(ProcessState::Terminated) ||
      stack.object()->slot(stack_slot::kTop).smallInteger() != int64_t(stack_slot::kFirstFrameSlot)) {
    throw std::runtime_error("the evaluation failed" +
                             (lastUnhandledError_.empty() ? std::string() : ": " + lastUnhandledError_));
  }
  return stack.object()->slot(stack_slot::kFirstFrameSlot);
}

bool Runtime::evaluationOverdue() const {
  return evaluating_ && evaluationDeadline_ != INT64_MAX && Scheduler::nowMicros() >= evaluationDeadline_;
}

void Runtime::endOverdueEvaluation() {
  Oop p = interpreter_->mainProcess();
  if (p == nil_) return;
  lastUnhandledError_ = "the evaluation did not finish before its deadline";
  if (p == scheduler_->activeProcess()) {
    interpreter_->endActiveProcessQuietly();
    return;
  }
  Oop list = p.object()->slot(process_slot::kMyList);
  if (list != nil_) scheduler_->remove(list, p);
  p.object()->slots()[process_slot::kState] = Oop::fromSmallInteger(int64_t(ProcessState::Terminated));
}

void Runtime::visitRoots(space::RootVisitor& visitor) {
  interpreter_->visitRoots(visitor);
}

void Runtime::afterBecome() {
  classes_->forgetSendSites();  // a selector or a send-site array may have changed identity
  methodCache_->flush();
  refreshCaches();
}

}  // namespace vm
