// Runtime: the language and execution machinery of one space — kernel classes, globals,
// class loading, method caches, the interpreter and the process scheduler. The space itself
// is owned by the host (hypervisor::Vm); a Runtime never touches another space.
#pragma once

#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "space/Handle.h"
#include "space/Space.h"
#include "vm/ExecutionHost.h"
#include "vm/Globals.h"
#include "vm/SpecialObjects.h"

namespace vm {

class ClassBuilder;
class ClassLoader;
class Interpreter;
class MethodCache;
class Scheduler;
class PrimitiveTable;

using space::ClassIndex;
using space::Oop;

struct RuntimeOptions {
  std::string name = "main";
  std::vector<std::string> classPath;      // searched after the kernel, in order
  size_t maxStackSlots = size_t(1) << 22;  // per process; beyond it: StackOverflow
  std::FILE* out = stdout;
  std::FILE* err = stderr;
};

// Class indexes of the classes the VM instantiates or tests for, cached from the special
// objects array (refreshCaches() re-reads them after the VM is reconfigured).
struct KnownClasses {
  ClassIndex object = 0, array = 0, byteArray = 0, string = 0, symbol = 0, doubleClass = 0, largeInteger = 0,
             method = 0, primitive = 0, compiledBlock = 0, context = 0, process = 0, processStack = 0, semaphore = 0,
             linkedList = 0, association = 0, methodDictionary = 0, metaclass = 0, block[5] = {0, 0, 0, 0, 0};
};

// Host code attached to a runtime, found by its primitives (e.g. the mirror bridge of the
// hypervisor space, mop/MirrorBridge.h).
class RuntimeExtension {
 public:
  virtual ~RuntimeExtension() = default;
};

// How a program run by the launcher protocol (Runtime::runMain) ended. The runtime prints
// only what it alone knows (a Smalltalk stack trace, a compile error as it happens); what
// an outcome means for the host's own process — its message and exit status — is the
// host's policy (hypervisor/ExitStatus.h).
struct ProgramOutcome {
  enum class Kind {
    Finished,         // the main process returned (status 0), `system exit: status`, or SIGTERM/SIGINT
    UnhandledError,   // an error no handler caught ended the main process (its trace was printed)
    CompileError,     // the program, or a class it loaded while running, does not compile
    NotFound,         // no class of that name on the class path
    KernelClassName,  // the program's file is named after a kernel class
    NoEntryPoint,     // the class understands neither #run: nor #run
    Deadlock,         // every process waits and nothing can ever wake one
  };
  Kind kind = Kind::Finished;
  int status = 0;      // Finished: the status the program asked for
  std::string detail;  // the class name, the program's file (KernelClassName), or the compile error
};

// Why execution stopped (answer of Runtime::run and Interpreter::run).
// PauseTimedOut: a requested pause was not reached by its deadline (the runtime then
// abandons it; see Runtime::schedule).
enum class StopReason { MainProcessEnded, Exit, Deadlock, PauseTimedOut, Idle };

class Runtime final : public space::RootProvider {
 public:
  Runtime(space::Space& space, RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Creates the kernel classes and compiles the kernel library into a fresh space.
  void bootstrap();

  space::Space& space() { return space_; }
  const RuntimeOptions& options() const { return options_; }
  RuntimeOptions& mutableOptions() { return options_; }
  const std::string& name() const { return options_.name; }

  Oop nil() const { return nil_; }
  Oop trueObject() const { return true_; }
  Oop falseObject() const { return false_; }
  Oop boolean(bool b) const { return b ? true_ : false_; }
  Oop special(size_t i) const { return space_.specialObject(i); }
  void setSpecial(size_t i, Oop v) { space_.setSpecialObject(i, v); }
  Oop symbol(std::string_view s) { return space_.symbols().intern(s); }
  Oop classAt(ClassIndex i) const { return space_.classTable().at(i); }
  Oop classOf(Oop o) const { return space_.classTable().at(space_.classIndexOf(o)); }

  KnownClasses known;
  void refreshCaches();

  Globals& globals() { return globals_; }
  ClassBuilder& classes() { return *classes_; }
  ClassLoader& loader() { return *loader_; }
  Interpreter& interpreter() { return *interpreter_; }
  Scheduler& scheduler() { return *scheduler_; }
  MethodCache& methodCache() { return *methodCache_; }
  const PrimitiveTable& primitives() const { return *primitives_; }
  // Extra primitives are added before the classes that use them are compiled.
  PrimitiveTable& mutablePrimitives() { return *primitives_; }
  void setExtension(RuntimeExtension* e) { extension_ = e; }
  RuntimeExtension* extension() const { return extension_; }

  // Loads and runs the SOM launcher protocol: load `classNameOrFile`, instantiate it,
  // send #run: with the arguments (if understood) or #run, until the main process ends
  // or `system exit:`.
  ProgramOutcome runMain(const std::string& classNameOrFile, const std::vector<std::string>& args);
  // The class a program names: a class on the class path, or a file NAME.som (whose
  // directory goes first on the class path). Null, with `outcome` saying why, when there
  // is none.
  Oop loadProgramClass(const std::string& classNameOrFile, ProgramOutcome& outcome);
  bool isBootstrapping() const { return bootstrapping_; }
  // The error of the last failed socket primitive (read by Socket class>>primLastError).
  const std::string& lastSocketError() const { return lastSocketError_; }
  void setLastSocketError(std::string e) { lastSocketError_ = std::move(e); }
  // Descriptors this runtime opened and has not closed (sockets). A resumed image's
  // sockets name descriptors of another process: primitives refuse those.
  void noteDescriptorOpened(int fd) { descriptors_.insert(fd); }
  void noteDescriptorClosed(int fd) { descriptors_.erase(fd); }
  bool ownsDescriptor(int fd) const { return descriptors_.count(fd) != 0; }
  // Sockets hold handles: a descriptor tagged with this epoch (vm/primitives/Socket.cpp).
  // A resumed image's runtime takes the next epoch, so the handles of the process the
  // image was taken from never name a descriptor of this one.
  uint32_t descriptorEpoch() const { return descriptorEpoch_; }
  void setDescriptorEpoch(uint32_t e) { descriptorEpoch_ = e; }

  // System>>ticks: microseconds of program time. It continues across a snapshot and the
  // resume from it (programClockOffset is the time the program had run before).
  int64_t programMicros() const;
  void setProgramMicros(int64_t micros);
  // What the resumed program was given on the command line (System>>resumeArguments).
  const std::vector<std::string>& resumeArguments() const { return resumeArguments_; }
  void setResumeArguments(std::vector<std::string> a) { resumeArguments_ = std::move(a); }
  // Continues a program resumed from an image (vm/RuntimeImage.h adopted its state): the
  // start-up list is told first (System>>resumedFromImage), then the processes the image
  // held continue where they stopped, until the main process ends as in runMain.
  ProgramOutcome resumeMain();

  // How the program ended (or will end, once exitRequested()).
  const ProgramOutcome& outcome() const { return outcome_; }
  // The text of the last error no handler caught (see Exception>>unhandled).
  void noteUnhandledError(std::string text) { lastUnhandledError_ = std::move(text); }
  const std::string& lastUnhandledError() const { return lastUnhandledError_; }

  // Compiles `source` (statements, optionally with "| temps |") as a method of nil and
  // runs it in a new process until that process ends; answers what it returned (the
  // value of a final "^ expression"). Throws CompileError, and std::runtime_error when the
  // program exits or the process fails instead of returning.
  Oop evaluate(std::string_view source);
  // The same with the statements' `parameters` bound to `arguments` (as many).
  Oop evaluate(std::string_view source, const std::vector<std::string>& parameters,
               std::span<const space::Handle> arguments);
  // Parses and generates evaluate's code for `source` and `parameters` now, for an
  // evaluation later in an update's pause (ClassBuilder::prepareStatements).
  void prepareEvaluation(std::string_view source, const std::vector<std::string>& parameters);
  // Evaluations (evaluate) not finished by `micros` (Scheduler::nowMicros clock) end with
  // an error, whether they compute or wait; INT64_MAX: no deadline.
  void setEvaluationDeadline(int64_t micros) { evaluationDeadline_ = micros; }
  // The deadline of the evaluation running now (INT64_MAX when none runs).
  int64_t evaluationDeadline() const { return evaluating_ ? evaluationDeadline_ : INT64_MAX; }
  // An evaluation is running and its deadline has passed.
  bool evaluationOverdue() const;
  // Ends the overdue evaluation's process (running or waiting) without unwinding it.
  void endOverdueEvaluation();
  // Runs the scheduler until `process` ends (it becomes the interpreter's main process).
  StopReason runUntilEnded(Oop process);
  // Evaluation while paused: `process` may run, every other process stays parked.
  bool isPaused() const;

  // Who waits for events and decides about pauses (nullptr: this runtime on its own).
  void setHost(ExecutionHost* host) { host_ = host; }
  ExecutionHost* host() const { return host_; }
  // Pauses every process at its next update point (see Scheduler::requestPause); the
  // host's paused() or pauseAbandoned() says how it ended.
  void requestPause(int64_t deadlineMicros);
  // The processes that are running or ready (not parked, not blocked), as a report.
  PauseReport pauseReport(int64_t waitedMicros);
  // `system exit: status`: the program ends at the next instruction boundary.
  void requestExit(int status) { endProgram({ProgramOutcome::Kind::Finished, status, {}}); }
  // Ends the program with `outcome` at the next instruction boundary.
  void endProgram(ProgramOutcome outcome);
  bool exitRequested() const { return exitRequested_; }
  // The pause being reached has passed its deadline: it ends, processes parked so far
  // resume, and the host is told with a report (also from inside a long primitive).
  void pauseTimedOut();

  // RootProvider.
  void visitRoots(space::RootVisitor& visitor) override;
  void afterBecome() override;

 private:
  // The scheduling loop: runs processes until the interpreter's main process ends, exit
  // is requested or nothing can ever run again; waits for events and handles pauses.
  StopReason schedule();
  // The program's processes run (SIGTERM watched, heartbeat on) until the main process
  // ends, exit is asked for or nothing can run again; the tail of runMain and resumeMain.
  ProgramOutcome runProgram();
  bool waitForEvents();
  void pauseReached();
  space::Space& space_;
  RuntimeOptions options_;
  Oop nil_, true_, false_;
  Globals globals_;
  std::unique_ptr<ClassBuilder> classes_;
  std::unique_ptr<ClassLoader> loader_;
  std::unique_ptr<MethodCache> methodCache_;
  std::unique_ptr<PrimitiveTable> primitives_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Interpreter> interpreter_;
  ProgramOutcome outcome_;
  bool exitRequested_ = false;
  bool bootstrapping_ = false;
  std::string lastSocketError_;
  std::unordered_set<int> descriptors_;
  uint32_t descriptorEpoch_ = 1;  // 1 .. 2^30-1
  int64_t programClockOrigin_;    // Scheduler::nowMicros() when programMicros() was 0
  std::vector<std::string> resumeArguments_;
  std::string lastUnhandledError_;
  ExecutionHost* host_ = nullptr;
  RuntimeExtension* extension_ = nullptr;
  ExecutionHost standaloneHost_;
  int64_t pauseRequestedAt_ = 0;
  int64_t evaluationDeadline_ = INT64_MAX;
  bool evaluating_ = false;
};

}  // namespace vm
