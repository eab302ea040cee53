// Context primitives: frames reified on demand (sender, receiver, method, temporaries),
// and the unwinding returns the kernel's exception handling and ensure: are built on.
#include "vm/Frame.h"
#include "vm/ProcessStack.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

bool isContext(Runtime& rt, Oop o) {
  return isContextObject(rt, o);
}

// The frame of a live context: its stack slots and frame index; false when dead.
bool frameOf(Interpreter& in, Oop ctx, Oop*& slots, int64_t& frame) {
  if (!isContext(in.runtime(), ctx)) return false;
  frame = in.frameOfContext(ctx);
  if (frame < 0) return false;
  slots = process_stack::stackOf(ctx.object()->slot(context_slot::kProcess)).object()->slots();
  return true;
}

// The code header of the frame at index `frame`.
int64_t headerAt(Oop* slots, int64_t frame) {
  return frame::header(slots + frame);
}

ESPELL_PRIMITIVE(ctxIsDead) {
  Oop c = receiver(in, argc);
  if (!isContext(in.runtime(), c)) return kFail;
  return answerBool(in, argc, in.frameOfContext(c) < 0);
}

ESPELL_PRIMITIVE(ctxSender) {
  Oop* slots;
  int64_t frame;
  if (!frameOf(in, receiver(in, argc), slots, frame)) return answer(in, argc, in.runtime().nil());
  int64_t caller = frame::callerIndex(slots + frame);
  if (caller == 0) return answer(in, argc, in.runtime().nil());
  Oop process = receiver(in, argc).object()->slot(context_slot::kProcess);
  Oop ctx = in.contextFor(process, caller);
  return answer(in, argc, ctx);
}

ESPELL_PRIMITIVE(ctxReceiver) {
  Oop* slots;
  int64_t frame;
  if (!frameOf(in, receiver(in, argc), slots, frame)) return kFail;
  return answer(in, argc, frame::self(slots + frame));
}

ESPELL_PRIMITIVE(ctxMethod) {
  Oop* slots;
  int64_t frame;
  if (!frameOf(in, receiver(in, argc), slots, frame)) return kFail;
  return answer(in, argc, frame::code(slots + frame));
}

ESPELL_PRIMITIVE(ctxNumArgs) {
  Oop* slots;
  int64_t frame;
  if (!frameOf(in, receiver(in, argc), slots, frame)) return kFail;
  return answerInt(in, argc, CodeHeader::args(headerAt(slots, frame)));
}

// tempAt: i — 1-based over arguments, then temporaries (blocks: copied values first).
Oop* tempSlot(Oop* slots, int64_t frame, Oop index) {
  if (!index.isSmallInteger()) return nullptr;
  int64_t h = headerAt(slots, frame);
  int64_t args = CodeHeader::args(h), temps = CodeHeader::temps(h);
  int64_t i = index.smallInteger() - 1;
  if (i < 0 || i >= args + temps) return nullptr;
  if (i < args) return slots + frame - args + i;
  return frame::temps(slots + frame) + (i - args);
}

ESPELL_PRIMITIVE(ctxTempAt) {
  Oop* slots;
  int64_t frame;
  if (!frameOf(in, receiver(in, argc), slots, frame)) return kFail;
  Oop* s = tempSlot(slots, frame, arg(in, argc, 0));
  if (!s) return kFail;
  return answer(in, argc, *s);
}

// Whether frame temporary [temp] (0-based, after the arguments) of [code] holds a temp
// vector: the code reads its slots without checks, so it is never replaced.
bool holdsTempVector(Oop code, int64_t temp) {
  Oop info = code.object()->slot(code_slot::kDebugInfo);
  if (!info.isHeapObject() || info.object()->slotCount() <= debug_info::kVectorTemps) return false;
  Oop vectors = info.object()->slot(debug_info::kVectorTemps);
  for (size_t i = 0; i < vectors.object()->slotCount(); i++) {
    if (vectors.object()->slot(i) == Oop::fromSmallInteger(temp)) return true;
  }
  return false;
}

ESPELL_PRIMITIVE(ctxTempAtPut) {
  Oop* slots;
  int64_t frame;
  Oop ctx = receiver(in, argc);
  if (!frameOf(in, ctx, slots, frame)) return kFail;
  Oop* s = tempSlot(slots, frame, arg(in, argc, 0));
  if (!s) return kFail;
  Oop* firstTemp = slots + frame + frame_slot::kFirstTemp;
  if (s >= firstTemp && holdsTempVector(slots[frame + frame_slot::kMethod], s - firstTemp)) return kFail;
  Oop v = arg(in, argc, 1);
  *s = v;
  Oop stack = process_stack::stackOf(ctx.object()->slot(context_slot::kProcess));
  in.space().writeBarrier(stack.object(), v);
  return answer(in, argc, v);
}

ESPELL_PRIMITIVE(ctxIsUnwindProtect) {
  Oop* slots;
  int64_t frame;
  if (!frameOf(in, receiver(in, argc), slots, frame)) return answerBool(in, argc, false);
  return answerBool(in, argc, CodeHeader::has(headerAt(slots, frame), CodeHeader::kUnwindProtect));
}

ESPELL_PRIMITIVE(ctxIsExceptionHandler) {
  Oop* slots;
  int64_t frame;
  if (!frameOf(in, receiver(in, argc), slots, frame)) return answerBool(in, argc, false);
  return answerBool(in, argc, CodeHeader::has(headerAt(slots, frame), CodeHeader::kExceptionHandler));
}

ESPELL_PRIMITIVE(ctxProcess) {
  Oop c = receiver(in, argc);
  if (!isContext(in.runtime(), c)) return kFail;
  return answer(in, argc, c.object()->slot(context_slot::kProcess));
}

// primReturn: value — cut the stack back to this frame and return value from it.
ESPELL_PRIMITIVE(ctxPrimReturn) {
  Oop ctx = receiver(in, argc), value = arg(in, argc, 0);
  return in.returnToContext(ctx, value);
}

ESPELL_PRIMITIVE(ctxPrimRestart) {
  return in.restartContext(receiver(in, argc));
}

// nextUnwindContextUpTo: aContext — the first unwind-protect frame from the receiver
// (inclusive) down to aContext (exclusive), or nil.
ESPELL_PRIMITIVE(ctxNextUnwind) {
  Runtime& rt = in.runtime();
  Oop ctx = receiver(in, argc), limit = arg(in, argc, 0);
  Oop* slots;
  int64_t frame;
  if (!frameOf(in, ctx, slots, frame)) return answer(in, argc, rt.nil());
  int64_t stop = isContext(rt, limit) ? in.frameOfContext(limit) : -1;
  for (int64_t f = frame; f != 0 && f != stop; f = frame::callerIndex(slots + f)) {
    if (CodeHeader::has(headerAt(slots, f), CodeHeader::kUnwindProtect)) {
      Oop process = receiver(in, argc).object()->slot(context_slot::kProcess);
      return answer(in, argc, in.contextFor(process, f));
    }
  }
  return answer(in, argc, rt.nil());
}

ESPELL_PRIMITIVE(ctxBottom) {
  Oop* slots;
  int64_t frame;
  Oop ctx = receiver(in, argc);
  if (!frameOf(in, ctx, slots, frame)) return kFail;
  while (!frame::isBottom(slots + frame)) frame = frame::callerIndex(slots + frame);
  return answer(in, argc, in.contextFor(ctx.object()->slot(context_slot::kProcess), frame));
}

}  // namespace
}  // namespace prim

void registerContextPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Context>>isDead", ctxIsDead);
  t.add("Context>>sender", ctxSender);
  t.add("Context>>receiver", ctxReceiver);
  t.add("Context>>method", ctxMethod);
  t.add("Context>>numArgs", ctxNumArgs);
  t.add("Context>>tempAt:", ctxTempAt);
  t.add("Context>>tempAt:put:", ctxTempAtPut);
  t.add("Context>>isUnwindProtect", ctxIsUnwindProtect);
  t.add("Context>>isExceptionHandler", ctxIsExceptionHandler);
  t.add("Context>>process", ctxProcess);
  t.add("Context>>primReturn:", withReceiver<isContextObject, ctxPrimReturn>);
  t.add("Context>>primRestart", withReceiver<isContextObject, ctxPrimRestart>);
  t.add("Context>>nextUnwindContextUpTo:", ctxNextUnwind);
  t.add("Context>>bottomContext", ctxBottom);
}

}  // namespace vm
