// CodeVerifier: checks the compiler's output against the opcode table, independently of
// how the code generator produced it. The interpreter trusts compiled code (an operand
// past the frame reads or writes another frame's slots), so the compiler fuzzer and the
// compiler's tests run every CodeSpec through this check.
#pragma once

#include <cstddef>
#include <string>

#include "vm/compiler/CodeSpec.h"

namespace vm {

// Empty when [code] and its blocks are well formed for a receiver with [fieldCount]
// instance variables; otherwise the first problem found, naming the code and offset.
// Checked: every instruction decodes within the code; argument, temporary, field,
// literal and send-site operands are in range and of the right kind (a PushClosure names
// a block literal and copies as many values as the block declares; a special send's site
// has the arity of the send; a temp vector is held by a temp the debug information
// names); a block's copied values fit in its temporaries; jumps land on instructions; on
// every path the operand stack depth is the same where paths meet, never goes below what
// an instruction pops, stays within the header's stack size, and no path runs off the
// end of the code; the frame's value names number the arguments and temporaries.
std::string verifyCode(const CodeSpec& code, size_t fieldCount);

}  // namespace vm
