// ProcessFrames: see ProcessFrames.h.
#include "vm/ProcessFrames.h"

#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/Runtime.h"

namespace vm {

namespace {
int64_t headerOf(Oop code) {
  return code.object()->slot(code_slot::kHeader).smallInteger();
}
}  // namespace

std::vector<FrameInfo> framesOf(Runtime& rt, Oop process, size_t maxFrames) {
  std::vector<FrameInfo> frames;
  Oop stack = process.object()->slot(process_slot::kStack);
  if (!stack.isHeapObject()) return frames;
  Oop* s = stack.object()->slots();
  int64_t fp = s[stack_slot::kFp].smallInteger();
  int64_t pc = s[stack_slot::kIp].smallInteger();
  while (fp != 0 && frames.size() < maxFrames) {
    FrameInfo f;
    f.index = fp;
    f.code = s[fp + frame_slot::kMethod];
    f.method = f.code;
    while (CodeHeader::has(headerOf(f.method), CodeHeader::kIsBlock)) {
      f.isBlock = true;
      f.method = f.method.object()->slot(code_slot::kHolder);
    }
    f.receiver = s[fp + frame_slot::kSelf];
    f.pc = pc;
    frames.push_back(f);
    // The caller's resume offset is kept in this frame; the send precedes it.
    pc = s[fp + frame_slot::kCallerIp].smallInteger() - 1;
    fp = s[fp + frame_slot::kCallerFp].smallInteger();
  }
  (void)rt;
  return frames;
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
