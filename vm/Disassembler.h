// Disassembler: a readable listing of compiled methods and blocks, generated from the
// opcode table (Opcodes.h).
#pragma once

#include <string>

#include "space/Oop.h"

namespace vm {

class Runtime;

// Lists the method (and, indented, the blocks it contains).
std::string disassemble(Runtime& rt, space::Oop code, int indent = 0);
// Lists every method of a class and of its metaclass.
std::string disassembleClass(Runtime& rt, space::Oop cls);

}  // namespace vm
