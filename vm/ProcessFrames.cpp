// ProcessFrames: see ProcessFrames.h.
#include "vm/ProcessFrames.h"

#include "vm/Frame.h"
#include "vm/Interpreter.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/ProcessStack.h"
#include "vm/Runtime.h"
#include "vm/Scheduler.h"

namespace vm {

std::vector<FrameInfo> framesOf(Runtime& rt, Oop process, size_t maxFrames) {
  std::vector<FrameInfo> frames;
  // The running process's registers are in the interpreter until saved.
  if (process == rt.scheduler().activeProcess()) rt.interpreter().saveRegisters();
  Oop stack = process_stack::stackOf(process);
  if (!stack.isHeapObject()) return frames;
  Oop* s = stack.object()->slots();
  process_stack::Registers regs = process_stack::registersOf(stack);
  int64_t fp = regs.fp;
  int64_t pc = regs.ip;
  while (fp != 0 && frames.size() < maxFrames) {
    FrameInfo f;
    f.stack = stack;
    f.index = fp;
    f.code = frame::code(s + fp);
    f.method = homeMethodOf(f.code);
    f.isBlock = f.method != f.code;
    f.receiver = frame::self(s + fp);
    f.pc = pc;
    frames.push_back(f);
    // The caller's resume offset is kept in this frame; the send precedes it.
    pc = frame::callerIp(s + fp) - 1;
    fp = frame::callerIndex(s + fp);
  }
  return frames;
}

std::vector<Oop> argumentsOf(const FrameInfo& f) {
  Oop* fp = f.stack.object()->slots() + f.index;
  unsigned n = frame::argCount(fp);
  return std::vector<Oop>(fp - n, fp);
}

std::vector<Oop> temporariesOf(const FrameInfo& f) {
  Oop* fp = f.stack.object()->slots() + f.index;
  Oop* t = frame::temps(fp);
  return std::vector<Oop>(t, t + CodeHeader::temps(frame::header(fp)));
}

int lineOf(Oop code, int64_t pc) {
  Oop info = code.object()->slot(code_slot::kDebugInfo);
  if (!info.isHeapObject() || info.object()->slotCount() < 2) return 0;
  Oop table = info.object()->slot(1);
  if (!table.isHeapObject()) return 0;
  const uint8_t* b = table.object()->bytes();
  size_t entries = table.object()->byteLength() / 4;
  int line = 0;
  for (size_t i = 0; i < entries; i++) {
    int offset = b[4 * i] | (b[4 * i + 1] << 8);
    if (offset > pc) break;
    line = b[4 * i + 2] | (b[4 * i + 3] << 8);
  }
  return line;
}

std::string describeFrame(Runtime& rt, const FrameInfo& frame) {
  std::string out;
  for (Oop c = frame.code; c != frame.method; c = c.object()->slot(code_slot::kHolder)) out += "[] in ";
  Oop holder = frame.method.object()->slot(code_slot::kHolder);
  out += isClass(rt, holder) ? className(rt, holder) : std::string("?");
  out += ">>";
  out += bytesOf(frame.code.object()->slot(code_slot::kSelector));
  int line = lineOf(frame.code, frame.pc);
  if (line > 0) out += " (line " + std::to_string(line) + ")";
  return out;
}

std::string stackTraceOf(Runtime& rt, Oop process, size_t maxFrames) {
  std::vector<FrameInfo> frames = framesOf(rt, process, maxFrames + 1);
  std::string out;
  for (size_t i = 0; i < frames.size() && i < maxFrames; i++) out += "  " + describeFrame(rt, frames[i]) + "\n";
  if (frames.size() > maxFrames) out += "  ...\n";
  return out;
}

}  // namespace vm
