// Frame: the layout of one activation inside a process stack, and the one reader and
// writer of it. The interpreter (its send path inline, its slow paths), the scheduler's
// process switches, the context primitives and the mirrors (through ProcessStack.h) all
// build, read and discard frames with these functions, so the layout is written once.
//
// A process stack is an old-space object (space::Format::Stack) that never moves, so a
// frame is addressed by a plain pointer `fp` to its base (or by its index in the stack).
// Slots relative to fp (frame_slot in ObjectLayouts.h):
//
//   fp-1-argc          receiver (methods) or the closure (blocks); the result replaces it
//   fp-argc .. fp-1    arguments
//   fp+0 kMethod       the CompiledMethod or CompiledBlock running
//   fp+1 kCallerFp     SmallInteger: the caller's frame index (0: the bottom frame)
//   fp+2 kCallerIp     SmallInteger: where the caller resumes (just after its send)
//   fp+3 kContext      the Context married to this frame, or nil (see Context.som)
//   fp+4 kSelf         the receiver (blocks: the home method's receiver)
//   fp+5 ..            temporaries (blocks: copied values first, then the block's temps)
//   then               the operand stack, at most CodeHeader::stack slots deep
//
// Invariants: every slot holds a valid oop; a frame's caller index leads to a frame below
// it (or is 0); a Context in kContext answers this frame's index until the frame is
// discarded, when it is "widowed" (its kFrame slot becomes nil) so that it can never
// reach a frame that was reused.
#pragma once

#include <cstdint>

#include "vm/CompiledCode.h"

namespace vm::frame {

// Slots from fp to the deepest operand of an activation of code with header `h`.
constexpr size_t extent(int64_t h) {
  return frame_slot::kFirstTemp + CodeHeader::temps(h) + CodeHeader::stack(h);
}
// Whether an activation of code with header `h` fits between the last pushed slot `sp`
// (its new frame starts at sp + 1) and `limit`.
inline bool fits(const Oop* sp, int64_t h, const Oop* limit) {
  return sp + 1 + extent(h) <= limit;
}

inline Oop code(const Oop* fp) {
  return fp[frame_slot::kMethod];
}
inline int64_t header(const Oop* fp) {
  return codeHeaderOf(code(fp));
}
inline unsigned argCount(const Oop* fp) {
  return CodeHeader::args(header(fp));
}
inline Oop self(const Oop* fp) {
  return fp[frame_slot::kSelf];
}
inline Oop context(const Oop* fp) {
  return fp[frame_slot::kContext];
}
// The slot of the receiver (or closure), where the frame's result goes when it returns.
inline Oop* resultSlot(Oop* fp) {
  return fp - argCount(fp) - 1;
}
inline Oop* temps(Oop* fp) {
  return fp + frame_slot::kFirstTemp;
}
// The slot just below the operand stack: sp when the operand stack is empty.
inline Oop* emptyOperandStack(Oop* fp, int64_t h) {
  return temps(fp) + CodeHeader::temps(h) - 1;
}
inline int64_t callerIndex(const Oop* fp) {
  return fp[frame_slot::kCallerFp].smallInteger();
}
inline int64_t callerIp(const Oop* fp) {
  return fp[frame_slot::kCallerIp].smallInteger();
}
inline bool isBottom(const Oop* fp) {
  return callerIndex(fp) == 0;
}

// Writes the fixed part of a new frame at `fp`: its code, the caller's frame index and
// resume offset, no context, and `self`.
inline void writeHeader(Oop* fp, Oop code, int64_t callerFp, int64_t callerIp, Oop self, Oop nil) {
  fp[frame_slot::kMethod] = code;
  fp[frame_slot::kCallerFp] = Oop::fromSmallInteger(callerFp);
  fp[frame_slot::kCallerIp] = Oop::fromSmallInteger(callerIp);
  fp[frame_slot::kContext] = nil;
  fp[frame_slot::kSelf] = self;
}

// Sets the temporaries of the frame at `fp` (code header `h`) to their initial values:
// a block's copied values from `closure`, nil for the rest. Answers the new sp (empty
// operand stack). Used when a frame is built and when it restarts.
inline Oop* resetTemps(Oop* fp, int64_t h, Oop closure, Oop nil) {
  Oop* t = temps(fp);
  unsigned n = CodeHeader::temps(h), copied = CodeHeader::copied(h);
  for (unsigned i = 0; i < copied; i++) t[i] = closure.object()->slot(closure_slot::kFirstCopied + i);
  for (unsigned i = copied; i < n; i++) t[i] = nil;
  return t + n - 1;
}

// Builds the frame of a method activation above `sp` (the receiver and `argc` arguments
// are the last pushed slots); answers the new sp. The caller checked fits().
inline Oop* pushMethod(Oop* sp, int argc, Oop method, int64_t h, int64_t callerFp, int64_t callerIp, Oop nil) {
  Oop* fp = sp + 1;
  writeHeader(fp, method, callerFp, callerIp, sp[-argc], nil);
  Oop* t = temps(fp);
  unsigned n = CodeHeader::temps(h);
  for (unsigned i = 0; i < n; i++) t[i] = nil;
  return t + n - 1;
}

// Builds the frame of a block activation above `sp` (the closure and `argc` arguments are
// the last pushed slots); answers the new sp. The caller checked fits().
inline Oop* pushBlock(Oop* sp, int argc, int64_t h, int64_t callerFp, int64_t callerIp, Oop nil) {
  Oop* fp = sp + 1;
  Oop closure = sp[-argc];
  space::HeapObject* c = closure.object();
  writeHeader(fp, c->slot(closure_slot::kCode), callerFp, callerIp, c->slot(closure_slot::kReceiver), nil);
  return resetTemps(fp, h, closure, nil);
}

// Which frames widowContexts reaches.
enum class Through {
  Target,       // the frames above the target and the target itself
  AboveTarget,  // only the frames above it (the target stays, with its context)
};

// Frames from the one at index `top` down to the one at index `target` are being
// discarded (or restarted): their contexts become dead. Stops at the bottom frame when
// `target` is not below `top`.
inline void widowContexts(Oop* slots, int64_t top, int64_t target, Through through, Oop nil) {
  for (int64_t f = top; f != 0;) {
    if (f == target && through == Through::AboveTarget) return;
    Oop* fp = slots + f;
    Oop ctx = fp[frame_slot::kContext];
    if (ctx != nil) {
      ctx.object()->slots()[context_slot::kFrame] = nil;
      fp[frame_slot::kContext] = nil;
    }
    if (f == target) return;
    f = callerIndex(fp);
  }
}

}  // namespace vm::frame
