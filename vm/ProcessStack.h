// ProcessStack: a process's stack object as a whole — the registers it keeps while its
// process is not running (top, fp, ip), creating and growing stacks, new processes with
// their first frame, and the edits the mirrors make to the stacks of processes that are
// not running (return from a frame, restart a frame, insert a frame). Frame layout and
// the per-frame reads and writes are in Frame.h; this file only combines them.
//
// Stack object slots (stack_slot in ObjectLayouts.h): 0 kTop, the index of the last live
// slot (the collectors scan no further); 1 kFp, the top frame's index (0: no frame);
// 2 kIp, the top frame's bytecode offset; 3 kProcess; frames from kFirstFrameSlot up.
// While a process runs, the interpreter holds these registers as pointers and writes them
// back (Interpreter::saveRegisters) before anything that may look at the stack.
#pragma once

#include <cstddef>
#include <cstdint>

#include "space/HeapObject.h"
#include "vm/ObjectLayouts.h"

namespace vm {

class Runtime;
using space::Oop;

namespace process_stack {

// Slots kept free above the deepest operand of the top frame: primitives push a few
// values beyond what a frame declares (doesNotUnderstand:'s selector and arguments Array,
// the receiver and arguments of a send made on their behalf, "Processor outOfMemory:").
constexpr size_t kRedZone = 32;

// The registers kept in a stack object, as indexes (top, fp) and a bytecode offset (ip).
struct Registers {
  int64_t top = 0;
  int64_t fp = 0;
  int64_t ip = 0;
};
inline Registers registersOf(Oop stack) {
  const Oop* s = stack.object()->slots();
  return Registers{s[stack_slot::kTop].smallInteger(), s[stack_slot::kFp].smallInteger(),
                   s[stack_slot::kIp].smallInteger()};
}
// `slots` are the stack object's slots (the interpreter keeps their address at hand).
inline void setRegisters(Oop* slots, const Registers& r) {
  slots[stack_slot::kTop] = Oop::fromSmallInteger(r.top);
  slots[stack_slot::kFp] = Oop::fromSmallInteger(r.fp);
  slots[stack_slot::kIp] = Oop::fromSmallInteger(r.ip);
}
inline void setRegisters(Oop stack, const Registers& r) {
  setRegisters(stack.object()->slots(), r);
}
inline Oop stackOf(Oop process) {
  return process.object()->slot(process_slot::kStack);
}

// A new stack object of `slots` slots with no frame, registered with the space.
Oop newStack(Runtime& rt, size_t slots);
// Moves the frames of `process` to a stack object of at least `minimumSlots` slots
// (doubling, at most `maximumSlots`); the old object is left empty. Answers the new
// stack, which becomes the space's active stack if `process` is the active process.
// The caller saved the registers of a running process first.
Oop grow(Runtime& rt, Oop process, size_t minimumSlots, size_t maximumSlots);

// A suspended process whose bottom frame runs `method` on `receiver` with the elements of
// `args` (an Array) as arguments.
Oop newProcessSending(Runtime& rt, Oop receiver, Oop method, Oop args, int priority);
// A suspended process whose bottom frame evaluates `closure` (a block of no arguments).
Oop newProcessForBlock(Runtime& rt, Oop closure, int priority);

// ---- edits of a process that is not running ---------------------------------------------
// Each keeps the stack well formed (see Frame.h) and leaves room above the new top frame
// for its operand stack and primitives' pushes.

// Returns `value` from the frame at index `frame` (which has a caller): the frames above
// it and itself are discarded without running unwind blocks, and the caller resumes with
// `value` as the answer of its send.
void returnFrom(Runtime& rt, Oop process, int64_t frame, Oop value);
// Discards the frames above the one at index `frame` and restarts it from its first
// instruction, running `code` (the frame's own code, or a new method of the same arity).
void restartFrame(Runtime& rt, Oop process, int64_t frame, Oop code);
// Whether the top frame of `process` stopped just after an update point.
bool stoppedAtUpdatePoint(Oop process);
// The process, stopped at an update point, first runs `method` on `receiver` with the
// elements of `args` (an Array) when it resumes, in a new frame above its top frame; the
// value the update point pushed is replaced by the receiver and then by the new frame's
// result.
void insertFrameAtUpdatePoint(Runtime& rt, Oop process, Oop receiver, Oop method, Oop args);

}  // namespace process_stack
}  // namespace vm
