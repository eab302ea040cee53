// ProcessFrames: reading the frames of a process's stack object — for stack traces, pause
// reports and the mirror MOP. A process that is not running has its registers (fp, ip) in
// its stack object; for the running one, Interpreter::saveRegisters() puts them there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "space/Oop.h"

namespace vm {

class Runtime;
using space::Oop;

struct FrameInfo {
  Oop stack;          // the process's stack object
  int64_t index = 0;  // frame index in the stack object (fp)
  Oop code;           // the method or block running in it
  Oop method;         // the home method (code itself for a method)
  Oop receiver;       // self
  int64_t pc = 0;     // bytecode offset: the next instruction (top frame) or the send
  bool isBlock = false;
};

// Frames of `process`, innermost first; at most `maxFrames`. For the running process the
// interpreter's registers are saved first.
std::vector<FrameInfo> framesOf(Runtime& rt, Oop process, size_t maxFrames = SIZE_MAX);
// The arguments and the temporaries (a block's copied values first) of a frame. The oops
// are valid until the next allocation.
std::vector<Oop> argumentsOf(const FrameInfo& frame);
std::vector<Oop> temporariesOf(const FrameInfo& frame);
// Source line of the instruction at `pc` in `code` (0 when unknown).
int lineOf(Oop code, int64_t pc);
// "[] in Class>>selector (line N)".
std::string describeFrame(Runtime& rt, const FrameInfo& frame);
// One describeFrame per line, "  " indented, "  ..." when cut at maxFrames.
std::string stackTraceOf(Runtime& rt, Oop process, size_t maxFrames);

}  // namespace vm
