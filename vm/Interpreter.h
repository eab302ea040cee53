// Interpreter: the bytecode dispatch loop and everything that manipulates frames — sends,
// inline caches, activations, returns (local, non-local, unwinding), block activation,
// contexts, process stacks and process switches.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "vm/CompiledCode.h"
#include "vm/LongOperation.h"
#include "vm/ObjectLayouts.h"
#include "vm/Primitives.h"
#include "vm/ProcessStack.h"
#include "vm/Runtime.h"

namespace vm {

// The machine registers of the active process. Frames live in the process's stack object
// (old space: it never moves), so sp and fp are plain pointers into it; saveRegisters()
// writes their indexes into the stack object before anything that may collect.
struct Registers {
  Oop stack;                      // the active process's stack object
  Oop* slots = nullptr;           // stack.object()->slots()
  Oop* sp = nullptr;              // top of the operand stack (last pushed value)
  Oop* fp = nullptr;              // base of the current frame (see frame_slot)
  Oop* limit = nullptr;           // push no frame beyond this point without growing
  const uint8_t* ip = nullptr;    // next bytecode
  const uint8_t* code = nullptr;  // first bytecode of the current method or block
  Oop* literals = nullptr;        // literal slots of the current method or block
  Oop* sites = nullptr;           // send-site slots of the current method or block
};

// Runs a quick method (QuickMethod `q`, not None) on the receiver and `argc` arguments
// ending at `sp` (an lvalue, left at the result), as a send does without building a frame;
// `afterSet` is a statement run after a field setter left the receiver as its answer (the
// dispatch loop drops that answer when the next instruction would pop it).
// One definition for the send path in the dispatch loop and for sends made by primitives
// (Interpreter::activateMethodFromPrimitive). A macro, not a function: in the dispatch
// loop even an inlined call changes how the compiler allocates the loop's registers (an
// extra instruction at every dispatch, measured with callgrind).
// Field readers come first: they are most of the quick methods sent (accessors), and a
// compare is cheaper than the switch's indirect jump; field setters (the other half of
// accessors) come second.
#define ESPELL_RUN_QUICK_METHOD(q, sp, argc, afterSet)               \
  if (QuickMethod::kind(q) == QuickMethod::ReturnField) [[likely]] { \
    *(sp) = (sp)[0].object()->slot(QuickMethod::field(q));           \
  } else if (QuickMethod::kind(q) == QuickMethod::SetField) {        \
    space_.storePointer((sp)[-1], QuickMethod::field(q), (sp)[0]);   \
    (sp) -= 1;                                                       \
    afterSet;                                                        \
  } else                                                             \
    switch (QuickMethod::kind(q)) {                                  \
      case QuickMethod::ReturnSelf:                                  \
        (sp) -= (argc);                                              \
        break;                                                       \
      case QuickMethod::ReturnField:                                 \
      case QuickMethod::SetField:                                    \
        break; /* above */                                           \
      case QuickMethod::ReturnNil:                                   \
        (sp) -= (argc);                                              \
        *(sp) = nil_;                                                \
        break;                                                       \
      case QuickMethod::ReturnTrue:                                  \
        (sp) -= (argc);                                              \
        *(sp) = true_;                                               \
        break;                                                       \
      case QuickMethod::ReturnFalse:                                 \
        (sp) -= (argc);                                              \
        *(sp) = false_;                                              \
        break;                                                       \
      case QuickMethod::None:                                        \
        break;                                                       \
    }

class Interpreter {
 public:
  explicit Interpreter(Runtime& rt);

  // Runs processes until the main process ends, exit is requested, nothing is runnable
  // (Idle: the caller waits for events), or a pause is requested at an update point.
  StopReason run();

  // ---- the primitive calling contract (see Primitives.h) ----------------------------------
  Oop stackAt(int depth) const { return regs_.sp[-depth]; }
  void setStackAt(int depth, Oop v) { regs_.sp[-depth] = v; }
  Oop receiverOf(int argc) const { return regs_.sp[-argc]; }
  Oop argumentOf(int argc, int i) const { return regs_.sp[-argc + 1 + i]; }
  // Replaces the receiver and `argc` arguments by `result`.
  PrimitiveResult popThenPush(int argc, Oop result) {
    regs_.sp -= argc;
    *regs_.sp = result;
    return PrimitiveResult::Success;
  }
  void push(Oop v) { *++regs_.sp = v; }
  Oop pop() { return *regs_.sp--; }
  Runtime& runtime() { return rt_; }
  space::Space& space() { return space_; }

  // Control transfers available to primitives (each answers ControlTransferred or Failure).
  PrimitiveResult activateBlock(Oop closure, int argc);
  // Sends `selector` with the receiver and `argc` arguments already on the stack.
  PrimitiveResult sendFromPrimitive(Oop selector, int argc);
  // Runs primitive `prim` with the registers saved; `sp` and `fp` are their values at the
  // call. When an allocation inside it exhausts the heap before it changed the stack or the
  // frame, the send is answered by "Processor outOfMemory: description" instead, which
  // signals the catchable OutOfMemory error; exhaustion after that propagates and the
  // process fails (see run()). Inline: the interpreter loop calls it for every primitive,
  // and the try costs nothing until something is thrown.
  PrimitiveResult callPrimitive(unsigned prim, int argc, const Oop* sp, const Oop* fp) {
    try {
      return rt_.primitives().at(prim)(*this, argc);
    } catch (const space::HeapExhausted& e) {
      if (regs_.sp != sp || regs_.fp != fp) throw;  // stacks never move, so pointers compare
      return primitiveOutOfMemory(e, argc);
    }
  }
  PrimitiveResult primitiveOutOfMemory(const space::HeapExhausted& e, int argc);
  // Like sendFromPrimitive, but looks `selector` up starting at `startClass`.
  PrimitiveResult sendFromPrimitiveTo(Oop selector, int argc, Oop startClass);
  // Runs `method` on the receiver and `argc` arguments on the stack.
  PrimitiveResult activateMethodFromPrimitive(Oop method, int argc);

  // ---- contexts ----------------------------------------------------------------------------
  // The Context married to a frame of a process (created on first request).
  Oop contextFor(Oop process, int64_t frameIndex);
  Oop contextOfCurrentFrame();
  // Frame index of a live context, or -1 when its frame has returned.
  int64_t frameOfContext(Oop context) const;
  // Cuts the active process's stack back to the frame of `context` and returns `value`
  // from it, without running unwind blocks (Context>>primReturn:).
  PrimitiveResult returnToContext(Oop context, Oop value);
  // Restarts the frame of `context` from its first bytecode (Context>>primRestart).
  PrimitiveResult restartContext(Oop context);

  // ---- processes -------------------------------------------------------------------------
  Oop activeProcess() const;
  // Makes `process` the active one, saving the current one's registers first.
  void transferTo(Oop process);
  // The active process finished or was terminated: pick the next one.
  void activeProcessEnded();
  // The main process (see setMainProcess) ended: run() stops with MainProcessEnded.
  void mainProcessEnded();
  // The active process stopped running (queued on a semaphore, suspended): run the next
  // ready process, or stop run() with Idle when none is ready.
  void switchToNextReady();
  // Makes `process` ready; answers true when it preempted the active process.
  bool resumeProcess(Oop process);

  // ---- interrupts, pauses, errors -----------------------------------------------------------
  void requestInterrupt() { interruptRequested_.store(true, std::memory_order_relaxed); }
  // Set while a pause is requested (Scheduler::requestPause): update points then park
  // the process that reaches them.
  std::atomic<bool>& updateRequested() { return updateRequested_; }
  // Writes sp, fp and ip (as indexes) into the stack object, where the GC and a later
  // loadRegisters() find them.
  void saveRegisters() {
    if (regs_.stack.isNull()) return;
    process_stack::setRegisters(regs_.slots, {regs_.sp - regs_.slots, regs_.fp - regs_.slots, regs_.ip - regs_.code});
  }
  // Reads the active process's registers from its stack object (after a process switch
  // or an edit of its stack).
  void loadRegisters();
  // The process whose end stops run() (the program's, or an evaluation's).
  void setMainProcess(Oop p) { mainProcess_ = p; }
  // The program's main process: an unhandled error in it ends the program. Answered by
  // "Processor mainProcess" (an evaluation's process is not the program's).
  void setProgramMainProcess(Oop p) { programMainProcess_ = p; }
  Oop programMainProcess() const { return programMainProcess_ == nil_ ? mainProcess_ : programMainProcess_; }
  // Makes run() return `reason` at the next instruction boundary.
  void stop(StopReason reason) {
    stopRequested_ = true;
    stopReason_ = reason;
  }
  Oop mainProcess() const { return mainProcess_; }
  // Prints "selector (Class>>method line N)" frames of the active process to `out`.
  std::string stackTrace(int maxFrames = 40);
  // Terminates the active process after printing an error and its stack trace; if it is
  // the main process, the program exits with status 1.
  void failActiveProcess(const std::string& message);
  // Ends the active process (an overdue evaluation) as failActiveProcess does, without
  // printing anything.
  void endActiveProcessQuietly();

  // Fast-path guards: bit set when the kernel primitive is what the send would find.
  void refreshGuards();
  uint32_t smallIntegerGuards() const { return intGuards_; }
  // Whether Array's at: and at:put: are the kernel's primitives.
  bool arrayAccessGuard() const { return arrayAtGuard_; }
  // Array>>putAll:'s body (a counted loop of at:put: up to length) sends only the kernel's
  // methods for an Array receiver: at:put: and length Array's primitives, SmallInteger's
  // + and <= the VM's.
  bool arrayFillGuard() const { return arrayFillGuard_; }
  // The method a send of [selector] to [receiver] finds (through the global lookup
  // cache), or null when it does not understand it.
  Oop methodFor(Oop receiver, Oop selector) { return lookupMethod(space_.classIndexOf(receiver), selector); }

  void visitRoots(space::RootVisitor& v);

 private:
  bool numberPair(Oop a, Oop b, double& x, double& y) const;
  // [a] as a double when it is a Double (SmallFloat or boxed): a receiver of Double's
  // arithmetic fast paths.
  bool doubleReceiver(Oop a, double& x) const;
  // [b] as a double when it is a Double or a SmallInteger: an argument of those fast paths.
  bool numberArgument(Oop b, double& y) const;

  Oop lookupMethod(ClassIndex cls, Oop selector);
  Oop lookupFrom(Oop cls, Oop selector);
  // Finds the method for a send at a site, filling its inline cache. May rewrite the stack
  // (forwarded receiver, doesNotUnderstand:) and then updates argc.
  Oop lookupForSite(Oop* site, int& argc, bool isSuper);
  Oop doesNotUnderstand(Oop selector, int& argc);
  Oop superclassOfHolder(Oop method);

  // Pushes a frame for `method` (receiver and arguments on the stack). Grows the stack
  // when needed. Does not run primitives or quick methods.
  void pushFrame(Oop method, int argc);
  void pushBlockFrame(Oop closure, int argc);
  // Points the code registers at `code`, the method or block of the current frame.
  void loadCodeRegisters(Oop code) {
    regs_.code = bytecodesOf(code);
    regs_.literals = literalsOf(code);
    regs_.sites = sendSitesOf(code);
  }
  // Makes room for `slots` more slots above sp, growing the stack up to the soft limit;
  // answers false when that would pass it, or the heap cannot hold it (a stack overflow).
  bool ensureStackRoom(size_t slots);
  // Moves the active process's frames to a stack of at least `needed` slots; false when
  // the heap cannot hold one.
  bool growStack(size_t needed);
  // The stack limit of the processes of `rt`: its option, at most a quarter of the heap.
  static size_t stackLimitFor(Runtime& rt);
  // regs_.limit from the stack's capacity and the soft limit, less the red zone.
  void resetStackLimit();

  // Returns `value` from the frame at `frame` (the current frame or one below it, whose
  // frames above are discarded). Answers false when the process ended.
  bool returnFromFrame(Oop* frame, Oop value);
  // ^ from a block frame.
  void nonLocalReturn(Oop value);
  // Unwind-protect frames between the current frame and `home` (exclusive).
  Oop* firstUnwindFrameAbove(Oop* home);

  void handleInterrupts();
  void handleUpdatePoint();
  void pushProcessResultAndEnd(Oop result);

  Runtime& rt_;
  space::Space& space_;
  Registers regs_;
  Oop nil_, true_, false_;
  Oop mainProcess_;
  Oop programMainProcess_;
  uint32_t intGuards_ = 0;
  bool arrayAtGuard_ = false;
  bool arrayFillGuard_ = false;  // see arrayFillGuard
  bool blockValueGuard_ = false;
  bool booleanGuard_ = false;  // && and || of true and false are the kernel's primitives
  bool bothBooleans(Oop a, Oop b) const { return (a == true_ || a == false_) && (b == true_ || b == false_); }
  bool doubleGuard_ = false;
  // Double>>// is the kernel's primitive too (and doubleGuard_ holds: its answer goes on
  // in the same chain of Double arithmetic).
  bool doubleDivideGuard_ = false;
  // The doubles that Double arithmetic last stored into temporaries 0..kFloatTemps-1 of any
  // frame, each beside the SmallFloat it stored (float_chain in the dispatch loop). A
  // temporary whose bits are still that SmallFloat holds that double (the encoding is
  // exact and one-to-one), so reading it there needs no decoding, and no store anywhere
  // has to invalidate an entry: a temporary that changed no longer matches. Boxed Doubles
  // are not entered (their bits are an address, which a collection may reuse); bits 0
  // (no entry) are never a SmallFloat.
  struct FloatTemp {
    uint64_t bits = 0;
    double value = 0;
  };
  // One entry for every temporary a one-byte operand names, so that reading one through
  // the table needs no range check (the operand's type bounds it).
  static constexpr unsigned kFloatTemps = 256;
  FloatTemp floatTemps_[kFloatTemps];
  size_t maxStackSlots_;      // see stackLimitFor
  size_t softStackLimit_;     // maxStackSlots_, or beyond it while a StackOverflow is handled
  size_t overflowDepth_ = 0;  // the stack depth at the StackOverflow being handled (0: none)
  // Heartbeats (about 1 ms each) the active process has run since it was switched to; at
  // kHeartbeatsPerSlice it yields to a ready process of its own priority.
  static constexpr int kHeartbeatsPerSlice = 10;
  int heartbeatsInSlice_ = 0;
  bool stopRequested_ = false;
  StopReason stopReason_ = StopReason::Idle;
  std::atomic<bool> interruptRequested_{false};
  std::atomic<bool> updateRequested_{false};
  // Lets long primitives notice the heartbeat (LongOperation.h).
  struct LongPrimitiveWatcher final : LongOperationWatcher {
    explicit LongPrimitiveWatcher(Interpreter& in) : LongOperationWatcher(in.interruptRequested_), interpreter(in) {}
    void longOperationInterrupted() override { interpreter.longPrimitiveInterrupted(); }
    Interpreter& interpreter;
  };
  LongPrimitiveWatcher longPrimitiveWatcher_{*this};
  void longPrimitiveInterrupted();
  // The dispatch loop (run() sets up around it).
  StopReason dispatch();
};

// Bit numbers of the SmallInteger fast-path guards.
enum IntGuard : uint32_t {
  kGuardAdd = 1u << 0,
  kGuardSub = 1u << 1,
  kGuardMul = 1u << 2,
  kGuardLt = 1u << 3,
  kGuardGt = 1u << 4,
  kGuardLe = 1u << 5,
  kGuardGe = 1u << 6,
  kGuardEq = 1u << 7,
  kGuardNe = 1u << 8,
  kGuardBitAnd = 1u << 9,
  kGuardBitOr = 1u << 10,
  kGuardShl = 1u << 11,
  kGuardShr = 1u << 12,
  kGuardQuo = 1u << 13,
  kGuardMod = 1u << 14,
};

}  // namespace vm
