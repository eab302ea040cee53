// Inlining: which message sends the compiler open-codes (ifTrue:, whileTrue:, to:do:, ...)
// and which of their arguments are inlined blocks. One place, used by both the closure
// analysis and the code generator, so they always agree.
#pragma once

#include "vm/compiler/Ast.h"

namespace vm {

enum class InlineKind {
  None,
  IfTrue,
  IfFalse,
  IfTrueIfFalse,
  IfFalseIfTrue,
  And,
  Or,
  WhileTrue,
  WhileFalse,  // [cond] whileTrue: [body]
  WhileTrueUnary,
  WhileFalseUnary,  // [cond] whileTrue
  Repeat,           // [body] repeat
  ToDo,
  ToByDo,
  DownToDo,
  DownToByDo,
  TimesRepeat,
  IfNil,
  IfNotNil,
  IfNilIfNotNil,
  IfNotNilIfNil,
};

// Classifies a send; InlineKind::None when it is an ordinary send (including when an
// argument is not a literal block of the right arity).
InlineKind classifyInline(const SendNode& send);

// Whether the receiver (for loops) / argument i is an inlined block of `send`.
bool receiverIsInlinedBlock(InlineKind kind);
bool argumentIsInlinedBlock(InlineKind kind, size_t index);
bool isLoop(InlineKind kind);

}  // namespace vm
