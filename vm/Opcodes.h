// Opcodes: the one table of bytecodes. The dispatch table, the disassembler and the
// compiler's stack-depth check are all generated from it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vm {

// Operand formats: "" none, "B" one byte, "W" a 16-bit little-endian word, "BB" two
// bytes, "WB" a word then a byte. Jump offsets ("J") are 16-bit unsigned distances from
// the end of the instruction (forward for Jump*, backward for JumpBack and ForLoop*).
// New opcodes go at the end: images hold bytecodes.
//
// ForLoopUp/ForLoopDown close an inlined to:do:, downTo:do: or timesRepeat: loop whose
// counter and limit are SmallIntegers: one instruction instead of the general step and
// test. Only the steps that cannot end the loop take the fast path, so the general step
// that follows them (counter + 1, jump back to the test) still makes the last step, and
// any step of a loop whose counter is not a SmallInteger or whose arithmetic has been
// redefined.
//
// Stack effect: net change of the operand stack depth; kVariable where it depends on an
// operand (sends, closures, brace arrays): the code generator then sets the depth itself
// from the operand it emits (CodeGenerator.cpp, Emitter::emitOp callers).
//
//  X(name,            operands, effect, description)
#define ESPELL_OPCODES(X)                                                                          \
  X(PushSelf, "", 1, "push the receiver")                                                          \
  X(PushNil, "", 1, "push nil")                                                                    \
  X(PushTrue, "", 1, "push true")                                                                  \
  X(PushFalse, "", 1, "push false")                                                                \
  X(PushSmallInteger, "B", 1, "push a SmallInteger in -128..127 (operand is signed)")              \
  X(PushArgument, "B", 1, "push argument n")                                                       \
  X(PushTemp, "B", 1, "push temporary n (blocks: copied values come first)")                       \
  X(PushField, "B", 1, "push instance variable n of the receiver")                                 \
  X(PushLiteral, "W", 1, "push literal n")                                                         \
  X(PushGlobal, "W", 1, "push the value of the global whose binding is literal n")                 \
  X(PushRemoteTemp, "BB", 1, "push slot m of the temp vector in temporary n")                      \
  X(PushThisContext, "", 1, "push the Context of the current frame")                               \
  X(PushClosure, "WB", kVariable, "pop n copied values, push a closure of literal w")              \
  X(PushNewArray, "B", kVariable, "pop n values, push an Array of them (brace array)")             \
  X(StoreTemp, "B", 0, "store the top into temporary n")                                           \
  X(PopStoreTemp, "B", -1, "pop the top into temporary n")                                         \
  X(StoreField, "B", 0, "store the top into instance variable n of the receiver")                  \
  X(PopStoreField, "B", -1, "pop the top into instance variable n of the receiver")                \
  X(StoreRemoteTemp, "BB", 0, "store the top into slot m of the temp vector in temp n")            \
  X(PopStoreRemoteTemp, "BB", -1, "pop the top into slot m of the temp vector in temp n")          \
  X(StoreGlobal, "W", 0, "store the top into the global whose binding is literal n")               \
  X(MakeTempVector, "BB", 0, "temporary n := a new temp vector of m slots")                        \
  X(Pop, "", -1, "discard the top")                                                                \
  X(Dup, "", 1, "duplicate the top")                                                               \
  X(Send, "W", kVariable, "send through send site n")                                              \
  X(SuperSend, "W", kVariable, "send through send site n, lookup above the holder")                \
  X(SendAdd, "W", -1, "+ with SmallInteger/Double fast paths, else site n")                        \
  X(SendSubtract, "W", -1, "- with fast paths")                                                    \
  X(SendMultiply, "W", -1, "* with fast paths")                                                    \
  X(SendLess, "W", -1, "< with fast paths")                                                        \
  X(SendGreater, "W", -1, "> with fast paths")                                                     \
  X(SendLessEqual, "W", -1, "<= with fast paths")                                                  \
  X(SendGreaterEqual, "W", -1, ">= with fast paths")                                               \
  X(SendEqual, "W", -1, "= with fast paths")                                                       \
  X(SendNotEqual, "W", -1, "~= and <> with fast paths")                                            \
  X(SendIdentical, "", -1, "== (identity, follows forwarders)")                                    \
  X(SendNotIdentical, "", -1, "~~ (identity, follows forwarders)")                                 \
  X(SendBitAnd, "W", -1, "bitAnd: / & with SmallInteger fast path")                                \
  X(SendBitOr, "W", -1, "bitOr: with SmallInteger fast path")                                      \
  X(SendShiftLeft, "W", -1, "<< with SmallInteger fast path")                                      \
  X(SendShiftRight, "W", -1, ">> / >>> with SmallInteger fast path")                               \
  X(SendQuotient, "W", -1, "SOM / (integer division) with SmallInteger fast path")                 \
  X(SendModulo, "W", -1, "% and \\\\ with SmallInteger fast path")                                 \
  X(SendAt, "W", -1, "at: with Array fast path")                                                   \
  X(SendAtPut, "W", -2, "at:put: with Array fast path")                                            \
  X(SendValue, "W", 0, "value with block fast path")                                               \
  X(ReturnTop, "", -1, "return the top from the method")                                           \
  X(ReturnSelf, "", 0, "return the receiver from the method")                                      \
  X(BlockReturn, "", -1, "return the top from the block to its caller")                            \
  X(NonLocalReturn, "", -1, "return the top from the block's home method")                         \
  X(Jump, "J", 0, "jump forward")                                                                  \
  X(JumpBack, "J", 0, "jump backward (checks interrupts)")                                         \
  X(JumpIfTrue, "J", -1, "pop; jump forward if true")                                              \
  X(JumpIfFalse, "J", -1, "pop; jump forward if false")                                            \
  X(JumpIfNil, "J", -1, "pop; jump forward if nil")                                                \
  X(JumpIfNotNil, "J", -1, "pop; jump forward if not nil")                                         \
  X(UpdatePoint, "", 1, "Chester updatePoint: pause here if an update is pending; push nil")       \
  X(ForLoopUp, "BBJ", 0, "while temp n < temp m: temp n + 1, jump back (else the general step)")   \
  X(ForLoopDown, "BBJ", 0, "while temp n > temp m: temp n - 1, jump back (else the general step)") \
  X(SendAnd, "W", -1, "&& with a Boolean fast path")                                               \
  X(SendOr, "W", -1, "|| with a Boolean fast path")                                                \
  ESPELL_FUSED_OPCODES(ESPELL_FUSED_ROW, X)                                                        \
  X(SendDoubleDivide, "W", -1, "// with a Double fast path")                                       \
  ESPELL_PAIRED_OPCODES(ESPELL_PAIRED_ROW, X)

// Fused instructions: a push directly followed by a send, as one instruction named after
// both ("PushTempSendAdd 3 7" is "PushTemp 3" then "SendAdd 7"). The operands are the
// push's (none for PushSelf), then the send's site word. The compiler fuses when no jump
// lands between the two (CodeGenerator.cpp, Emitter::fuse); the interpreter pushes the
// value and then runs the send's own handler, so a send behaves alike fused or not.
//
//  F(send, effect of push + send, X, push, operands)
#define ESPELL_FUSABLE_SENDS(F, X, push, operands) \
  F(Send, kVariable, X, push, operands)            \
  F(SendAdd, 0, X, push, operands)                 \
  F(SendSubtract, 0, X, push, operands)            \
  F(SendMultiply, 0, X, push, operands)            \
  F(SendLess, 0, X, push, operands)                \
  F(SendGreater, 0, X, push, operands)             \
  F(SendLessEqual, 0, X, push, operands)           \
  F(SendGreaterEqual, 0, X, push, operands)        \
  F(SendEqual, 0, X, push, operands)               \
  F(SendAt, 0, X, push, operands)
#define ESPELL_FUSED_OPCODES(F, X)                   \
  ESPELL_FUSABLE_SENDS(F, X, PushTemp, "BW")         \
  ESPELL_FUSABLE_SENDS(F, X, PushArgument, "BW")     \
  ESPELL_FUSABLE_SENDS(F, X, PushField, "BW")        \
  ESPELL_FUSABLE_SENDS(F, X, PushSmallInteger, "BW") \
  F(Send, kVariable, X, PushSelf, "W")
#define ESPELL_FUSED_ROW(send, effect, X, push, operands) \
  X(push##send, operands, effect, "fused: " #push " then " #send)

// Paired instructions: PushTemp directly followed by a fused push and arithmetic or
// comparison send, as one instruction ("PushTempPushTempSendAdd 3 4 7" is "PushTemp 3"
// then "PushTempSendAdd 4 7"): both operands of "a + b", "x < 50", "z + 1". The compiler
// pairs them when no jump lands between the two (Emitter::emitSendOp); the interpreter
// pushes both values and runs the send's own handler. The PushArgument rows ("k <= size"
// with size an argument) came last: images hold the opcodes before them.
//
//  P(send, X, second push)
#define ESPELL_PAIRABLE_SENDS(P, X, push) \
  P(SendAdd, X, push)                     \
  P(SendSubtract, X, push)                \
  P(SendMultiply, X, push)                \
  P(SendLess, X, push)                    \
  P(SendGreater, X, push)                 \
  P(SendLessEqual, X, push)               \
  P(SendGreaterEqual, X, push)
#define ESPELL_PAIRED_OPCODES(P, X)             \
  ESPELL_PAIRABLE_SENDS(P, X, PushTemp)         \
  ESPELL_PAIRABLE_SENDS(P, X, PushSmallInteger) \
  ESPELL_PAIRABLE_SENDS(P, X, PushArgument)
#define ESPELL_PAIRED_ROW(send, X, push) X(PushTemp##push##send, "BBW", 1, "paired: PushTemp then " #push #send)

enum class Op : uint8_t {
#define ESPELL_OP_ENUM(name, operands, effect, description) name,
  ESPELL_OPCODES(ESPELL_OP_ENUM)
#undef ESPELL_OP_ENUM
      Count
};

constexpr int kVariable = 1000;

struct OpInfo {
  const char* name;
  const char* operands;
  int effect;
  const char* description;
};

constexpr OpInfo kOpInfo[] = {
#define ESPELL_OP_INFO(name, operands, effect, description) {#name, operands, effect, description},
    ESPELL_OPCODES(ESPELL_OP_INFO)
#undef ESPELL_OP_INFO
};

constexpr int operandBytes(const char* format) {
  int n = 0;
  for (const char* p = format; *p; p++) n += (*p == 'W' || *p == 'J') ? 2 : 1;
  return n;
}

// A fused instruction's parts; Op::Count for the others.
struct FusedParts {
  Op fused, push, send;
};
inline constexpr FusedParts kFusedParts[] = {
#define ESPELL_FUSED_PARTS(send, effect, X, push, operands) {Op::push##send, Op::push, Op::send},
    ESPELL_FUSED_OPCODES(ESPELL_FUSED_PARTS, _)
#undef ESPELL_FUSED_PARTS
};
constexpr Op fusedPushOf(Op op) {
  for (const FusedParts& f : kFusedParts) {
    if (f.fused == op) return f.push;
  }
  return Op::Count;
}
// The instruction that does [push] then [send], or Op::Count when there is none.
constexpr Op fusedOpFor(Op push, Op send) {
  for (const FusedParts& f : kFusedParts) {
    if (f.push == push && f.send == send) return f.fused;
  }
  return Op::Count;
}

// A paired instruction's parts: the fused instruction that follows its PushTemp.
struct PairedParts {
  Op paired, fused;
};
inline constexpr PairedParts kPairedParts[] = {
#define ESPELL_PAIRED_PARTS(send, X, push) {Op::PushTemp##push##send, Op::push##send},
    ESPELL_PAIRED_OPCODES(ESPELL_PAIRED_PARTS, _)
#undef ESPELL_PAIRED_PARTS
};
// The fused instruction a paired [op] ends with, or Op::Count when [op] is not paired.
constexpr Op pairedFusedOf(Op op) {
  for (const PairedParts& p : kPairedParts) {
    if (p.paired == op) return p.fused;
  }
  return Op::Count;
}
// The instruction that does PushTemp then [fused], or Op::Count when there is none.
constexpr Op pairedOpFor(Op fused) {
  for (const PairedParts& p : kPairedParts) {
    if (p.fused == fused) return p.paired;
  }
  return Op::Count;
}

// Whether the jump operand ("J") of [op] counts backward.
constexpr bool jumpsBackward(Op op) {
  return op == Op::JumpBack || op == Op::ForLoopUp || op == Op::ForLoopDown;
}

// Total size of an instruction (opcode + operands).
constexpr int instructionSize(Op op) {
  return 1 + operandBytes(kOpInfo[int(op)].operands);
}

// The operands of an instruction of [op] as stored, in the order of its format letters:
// bytes and words unsigned (PushSmallInteger's byte is signed: see OperandRole::Value), a
// jump's distance as is (see jumpTargetOf). [at] is the byte after the opcode; the caller
// has checked that the instruction lies within the code. The disassembler and the code
// verifier read operands with it; the interpreter reads its own, in place.
struct Operands {
  int values[3] = {};
  int count = 0;
};
inline Operands decodeOperands(Op op, const uint8_t* at) {
  Operands o;
  for (const char* f = kOpInfo[int(op)].operands; *f; f++) {
    if (*f == 'W' || *f == 'J') {
      o.values[o.count++] = at[0] | (at[1] << 8);
      at += 2;
    } else {
      o.values[o.count++] = *at++;
    }
  }
  return o;
}

// Where a jump of [op] over [distance] bytes lands, [next] being the offset of the
// instruction after it (negative when a backward jump would leave the code).
constexpr int64_t jumpTargetOf(Op op, size_t next, int distance) {
  return jumpsBackward(op) ? int64_t(next) - distance : int64_t(next) + distance;
}

inline constexpr int kOpCount = int(Op::Count);
static_assert(sizeof(kOpInfo) / sizeof(kOpInfo[0]) == size_t(kOpCount), "one info row per opcode");

// The largest value of each operand format: the compiler refuses (CompileError) code that
// needs more, naming the operand's role below.
constexpr int kMaxByteOperand = 255;
constexpr int kMaxWordOperand = 65535;  // "W" indexes and "J" jump distances

// What an operand counts, for the compiler's limit errors (the table above says it in
// words: "push temporary n", "send through send site n", ...).
enum class OperandRole {
  Value,          // PushSmallInteger's signed byte: the compiler only emits values that fit
  Argument,       // an argument index
  Temp,           // a temporary index in the frame (copied values first in blocks)
  Field,          // an instance variable index of the receiver
  Literal,        // a literal index
  SendSite,       // a send site index
  VectorSlot,     // a slot of a temp vector
  VectorSize,     // the size of a new temp vector
  CopiedValues,   // the number of values a closure copies
  ArrayElements,  // the number of elements of a brace array
  JumpDistance,   // bytes jumped over
};

// The role of operand [index] (0-based) of [op].
constexpr OperandRole operandRole(Op op, int index) {
  switch (op) {
    case Op::PushSmallInteger:
      return OperandRole::Value;
    case Op::PushArgument:
      return OperandRole::Argument;
    case Op::PushTemp:
    case Op::StoreTemp:
    case Op::PopStoreTemp:
      return OperandRole::Temp;
    case Op::PushField:
    case Op::StoreField:
    case Op::PopStoreField:
      return OperandRole::Field;
    case Op::PushLiteral:
    case Op::PushGlobal:
    case Op::StoreGlobal:
      return OperandRole::Literal;
    case Op::PushRemoteTemp:
    case Op::StoreRemoteTemp:
    case Op::PopStoreRemoteTemp:
      return index == 0 ? OperandRole::Temp : OperandRole::VectorSlot;
    case Op::MakeTempVector:
      return index == 0 ? OperandRole::Temp : OperandRole::VectorSize;
    case Op::PushClosure:
      return index == 0 ? OperandRole::Literal : OperandRole::CopiedValues;
    case Op::PushNewArray:
      return OperandRole::ArrayElements;
    case Op::Jump:
    case Op::JumpBack:
    case Op::JumpIfTrue:
    case Op::JumpIfFalse:
    case Op::JumpIfNil:
    case Op::JumpIfNotNil:
      return OperandRole::JumpDistance;
    case Op::ForLoopUp:
    case Op::ForLoopDown:
      return index < 2 ? OperandRole::Temp : OperandRole::JumpDistance;
    default:
      // A paired instruction: PushTemp's operand, then the fused instruction's.
      if (Op fused = pairedFusedOf(op); fused != Op::Count) {
        return index == 0 ? OperandRole::Temp : operandRole(fused, index - 1);
      }
      // A fused push and send: the push's operand, then the send site.
      if (Op push = fusedPushOf(op); push != Op::Count && push != Op::PushSelf && index == 0) {
        return operandRole(push, 0);
      }
      return OperandRole::SendSite;  // every other instruction with an operand is a send
  }
}

}  // namespace vm
