// Interpreter: the dispatch loop. Only this loop is long; everything it does rarely lives in
// named helpers (InterpreterFrames.cpp, InterpreterSends.cpp).
//
// Hazards are visible: SAVE() writes the registers back before anything that may allocate,
// collect, switch process or re-enter; LOAD() re-reads them afterwards. Stacks and compiled
// code live in old space and never move, so pointers into them survive collections.
#include "vm/Interpreter.h"

#include <cmath>
#include <cstring>

#include "space/Assert.h"
#include "vm/ClassLoader.h"
#include "vm/Frame.h"
#include "vm/LargeInteger.h"
#include "vm/MethodCache.h"
#include "vm/Objects.h"
#include "vm/Opcodes.h"
#include "vm/Scheduler.h"
#include "vm/compiler/KnownSends.h"

namespace vm {

using space::HeapObject;
using namespace space::reserved_class;

namespace {
inline uint16_t readWord(const uint8_t* p) {
  return uint16_t(p[0] | (p[1] << 8));
}
constexpr uint64_t kSmallIntegerTag = 1;
// Whether both are SmallIntegers: their tag bits (bit 0) are both set.
inline bool bothSmall(Oop a, Oop b) {
  return (a.bits() & b.bits() & kSmallIntegerTag) != 0;
}
// Whether both are SmallFloats (tag 100): float arithmetic's common case, decoded
// without the class checks of numberPair.
inline bool bothSmallFloat(Oop a, Oop b) {
  return (((a.bits() ^ 4) | (b.bits() ^ 4)) & 7) == 0;
}

// The special sends share their fast-path exits (PUSH_INT, PUSH_BOOL, FLOAT_ARITH) and
// their fall-back to an ordinary send through their site: they must all have one length.
constexpr int kSpecialSendLength = instructionSize(Op::Send);
constexpr bool specialSendsHaveOneLength() {
  for (const SpecialSend& s : kSpecialSends) {
    if (instructionSize(s.op) != kSpecialSendLength) return false;
  }
  return true;
}
static_assert(specialSendsHaveOneLength(), "every special send is an opcode and a send-site word");
constexpr int kConditionalJumpLength = instructionSize(Op::JumpIfFalse);
static_assert(instructionSize(Op::JumpIfTrue) == kConditionalJumpLength, "both conditional jumps have one length");

// Double arithmetic chains (float_chain in the dispatch loop) number the sends they go on
// with from SendAdd: + - * (0..2), then < > <= >= (3..6), in the plain and the fused rows.
constexpr unsigned kChainArithmetic = 3;
constexpr unsigned kChainSends = 7;
constexpr bool chainSendsInOrder(Op first) {
  const Op order[] = {Op::SendAdd,     Op::SendSubtract,  Op::SendMultiply,    Op::SendLess,
                      Op::SendGreater, Op::SendLessEqual, Op::SendGreaterEqual};
  for (unsigned k = 0; k < kChainSends; k++) {
    Op op = Op(unsigned(first) + k);
    if (op != order[k] && fusedOpFor(Op::PushTemp, order[k]) != op) return false;
  }
  return true;
}
static_assert(chainSendsInOrder(Op::SendAdd) && chainSendsInOrder(Op::PushTempSendAdd),
              "the arithmetic and comparison sends are consecutive opcodes, fused or not");
constexpr bool pairedChainSendsInOrder() {
  for (unsigned k = 0; k < kChainSends; k++) {
    if (pairedOpFor(Op(unsigned(Op::PushTempSendAdd) + k)) != Op(unsigned(Op::PushTempPushTempSendAdd) + k)) {
      return false;
    }
  }
  return true;
}
static_assert(pairedChainSendsInOrder(), "the paired arithmetic and comparison sends are in the same order");
}  // namespace

inline bool Interpreter::doubleReceiver(Oop a, double& x) const {
  if (a.isSmallFloat()) {
    x = a.smallFloat();
  } else if (a.isHeapObject() && a.object()->classIndex() == rt_.known.doubleClass) {
    x = doubleOf(a);
  } else {
    return false;
  }
  return true;
}

inline bool Interpreter::numberArgument(Oop b, double& y) const {
  if (b.isSmallFloat()) {
    y = b.smallFloat();
  } else if (b.isSmallInteger()) {
    y = double(b.smallInteger());
  } else if (b.isHeapObject() && b.object()->classIndex() == rt_.known.doubleClass) {
    y = doubleOf(b);
  } else {
    return false;
  }
  return true;
}

// Both operands as doubles when the receiver is a Double and the argument a Double or a
// SmallInteger (the fast paths of Double's arithmetic and comparisons).
inline bool Interpreter::numberPair(Oop a, Oop b, double& x, double& y) const {
  return doubleReceiver(a, x) && numberArgument(b, y);
}

StopReason Interpreter::run() {
  // Out of the dispatch loop: an object with a destructor there costs the loop registers.
  LongOperation::Scope longOperations(&longPrimitiveWatcher_);
  return dispatch();
}

StopReason Interpreter::dispatch() {
  stopRequested_ = false;
  if (activeProcess() == nil_ || regs_.stack.isNull()) return StopReason::Idle;

  Oop* sp;
  Oop* fp;
  const uint8_t* ip;
  Oop method;
  int argc = 0;
  Oop* site = nullptr;
  bool isSuper = false;
  double chained = 0;  // float_chain's value, see there

#define SAVE() (regs_.sp = sp, regs_.fp = fp, regs_.ip = ip, saveRegisters())
#define LOAD() (sp = regs_.sp, fp = regs_.fp, ip = regs_.ip)
#define SELF() (frame::self(fp))
#define CHECK_STOP()                        \
  do {                                      \
    if (stopRequested_) return stopReason_; \
  } while (0)
// The length of an instruction, from the opcode table: `ip += LENGTH(Name)` steps over it.
#define LENGTH(name) instructionSize(Op::name)
// Checked builds: at every dispatch ip lies inside the current method's bytecodes and sp
// inside the current frame's operand stack (as deep as the compiler computed, no deeper).
#define CHECK_REGISTERS()                                                                                         \
  ESPELL_ASSERT(ip >= regs_.code && ip < regs_.code + bytecodeLengthOf(frame::code(fp)),                          \
                "ip outside the current method");                                                                 \
  ESPELL_ASSERT(sp >= frame::emptyOperandStack(fp, frame::header(fp)) &&                                          \
                    sp <= frame::emptyOperandStack(fp, frame::header(fp)) + CodeHeader::stack(frame::header(fp)), \
                "sp outside the current frame's operand stack")

#ifdef ESPELL_COMPUTED_GOTO
  static void* const kDispatch[] = {
#define ESPELL_OP_LABEL(name, operands, effect, description) &&L_##name,
      ESPELL_OPCODES(ESPELL_OP_LABEL)
#undef ESPELL_OP_LABEL
  };
#define DISPATCH()        \
  do {                    \
    CHECK_REGISTERS();    \
    goto* kDispatch[*ip]; \
  } while (0)
#define OP(name) L_##name:
#else
#define DISPATCH()     \
  do {                 \
    CHECK_REGISTERS(); \
    goto dispatch;     \
  } while (0)
#define OP(name) \
  case Op::name: \
    L_##name : __attribute__((unused));
#endif

// The value each push instruction pushes (its operand at ip[1]); the fused instructions
// push the same.
#define PUSHED_PushSelf (SELF())
#define PUSHED_PushSmallInteger (Oop::fromSmallInteger(int8_t(ip[1])))
#define PUSHED_PushArgument (fp[ip[1] - int(frame::argCount(fp))])
#define PUSHED_PushTemp (frame::temps(fp)[ip[1]])
#define PUSHED_PushField (SELF().object()->slot(ip[1]))
// Whether temporary [n] holds the SmallFloat that Double arithmetic entered in floatTemps_
// (Interpreter.h): then floatTemps_[n].value is its double, without decoding.
#define FLOAT_TEMP_HIT(n) ((n) < kFloatTemps && floatTemps_[n].bits == frame::temps(fp)[n].bits())

  try {
    LOAD();
    for (;;) {
      DISPATCH();
#ifndef ESPELL_COMPUTED_GOTO
    dispatch:
      switch (Op(*ip)) {
#endif

        OP(PushSelf) {
          *++sp = PUSHED_PushSelf;
          ip += LENGTH(PushSelf);
          DISPATCH();
        }
        OP(PushNil) {
          *++sp = nil_;
          ip += LENGTH(PushNil);
          DISPATCH();
        }
        OP(PushTrue) {
          *++sp = true_;
          ip += LENGTH(PushTrue);
          DISPATCH();
        }
        OP(PushFalse) {
          *++sp = false_;
          ip += LENGTH(PushFalse);
          DISPATCH();
        }
        OP(PushSmallInteger) {
          *++sp = PUSHED_PushSmallInteger;
          ip += LENGTH(PushSmallInteger);
          DISPATCH();
        }
        OP(PushArgument) {
          *++sp = PUSHED_PushArgument;
          ip += LENGTH(PushArgument);
          DISPATCH();
        }
        OP(PushTemp) {
          *++sp = PUSHED_PushTemp;
          ip += LENGTH(PushTemp);
          DISPATCH();
        }
        OP(PushField) {
          *++sp = PUSHED_PushField;
          ip += LENGTH(PushField);
          DISPATCH();
        }
        OP(PushLiteral) {
          *++sp = regs_.literals[readWord(ip + 1)];
          ip += LENGTH(PushLiteral);
          DISPATCH();
        }
        OP(PushGlobal) {
          Oop binding = regs_.literals[readWord(ip + 1)];
          Oop value = binding.object()->slot(association_slot::kValue);
          if (value == rt_.special(special::kUndefinedGlobal)) {
            // Not defined yet: try loading a class of that name from the class path, then
            // fall back to sending #unknownGlobal: to the receiver.
            SAVE();
            Oop name = binding.object()->slot(association_slot::kKey);
            rt_.loader().tryLoadGlobal(name);
            LOAD();
            CHECK_STOP();
            binding = regs_.literals[readWord(ip + 1)];
            value = binding.object()->slot(association_slot::kValue);
            if (value == rt_.special(special::kUndefinedGlobal)) {
              ip += LENGTH(PushGlobal);
              *++sp = SELF();
              *++sp = binding.object()->slot(association_slot::kKey);
              SAVE();
              sendFromPrimitive(rt_.special(special::kSelectorUnknownGlobal), 1);
              LOAD();
              CHECK_STOP();
              DISPATCH();
            }
          }
          *++sp = value;
          ip += LENGTH(PushGlobal);
          DISPATCH();
        }
        OP(PushRemoteTemp) {
          Oop vector = frame::temps(fp)[ip[1]];
          *++sp = vector.object()->slot(ip[2]);
          ip += LENGTH(PushRemoteTemp);
          DISPATCH();
        }
        OP(PushThisContext) {
          SAVE();
          Oop ctx = contextOfCurrentFrame();
          LOAD();
          *++sp = ctx;
          ip += LENGTH(PushThisContext);
          DISPATCH();
        }
        OP(PushClosure) {
          int copied = ip[3];
          Oop code = regs_.literals[readWord(ip + 1)];
          int64_t header = codeHeaderOf(code);
          Oop outer = nil_;
          if (CodeHeader::has(header, CodeHeader::kNeedsOuterContext)) {
            // The home method's context, for non-local returns.
            int64_t h = frame::header(fp);
            if (CodeHeader::has(h, CodeHeader::kIsBlock)) {
              // The closure (where a block frame's result will go) knows its home context.
              outer = fp[-int(CodeHeader::args(h)) - 1].object()->slot(closure_slot::kOuterContext);
            } else if ((outer = frame::context(fp)) == nil_) {
              SAVE();
              outer = contextOfCurrentFrame();
              LOAD();
            }
          }
          unsigned nargs = CodeHeader::args(header);
          ClassIndex cls = rt_.known.block[nargs < 4 ? nargs : 4];
          size_t slots = closure_slot::kFirstCopied + size_t(copied);
          Oop closure = space_.tryAllocateYoung(cls, space::Format::FixedIndexable, slots);
          if (closure.isNull()) {
            space::LocalRoot keepOuter(space_.localRoots(), outer);
            SAVE();
            closure = space_.allocate(cls, space::Format::FixedIndexable, slots);
            LOAD();
            outer = keepOuter.get();
            code = regs_.literals[readWord(ip + 1)];
          }
          HeapObject* c = closure.object();
          c->slots()[closure_slot::kCode] = code;
          c->slots()[closure_slot::kOuterContext] = outer;
          c->slots()[closure_slot::kReceiver] = SELF();
          for (int i = 0; i < copied; i++) c->slots()[closure_slot::kFirstCopied + size_t(i)] = sp[i - copied + 1];
          // The closure is old only under gc stress; its copied values may be young.
          space_.rememberIfOld(c);
          sp -= copied;
          *++sp = closure;
          ip += LENGTH(PushClosure);
          DISPATCH();
        }
        OP(PushNewArray) {
          int n = ip[1];
          SAVE();
          Oop array = space_.allocate(rt_.known.array, space::Format::Indexable, size_t(n));
          LOAD();
          HeapObject* a = array.object();
          for (int i = 0; i < n; i++) a->slots()[i] = sp[i - n + 1];
          space_.rememberIfOld(a);
          sp -= n;
          *++sp = array;
          ip += LENGTH(PushNewArray);
          DISPATCH();
        }
        OP(StoreTemp) {
          frame::temps(fp)[ip[1]] = *sp;
          ip += LENGTH(StoreTemp);
          DISPATCH();
        }
        OP(PopStoreTemp) {
          frame::temps(fp)[ip[1]] = *sp--;
          ip += LENGTH(PopStoreTemp);
          DISPATCH();
        }
        OP(StoreField) {
          space_.storePointer(SELF(), ip[1], *sp);
          ip += LENGTH(StoreField);
          DISPATCH();
        }
        OP(PopStoreField) {
          space_.storePointer(SELF(), ip[1], *sp--);
          ip += LENGTH(PopStoreField);
          DISPATCH();
        }
        OP(StoreRemoteTemp) {
          space_.storePointer(frame::temps(fp)[ip[1]], ip[2], *sp);
          ip += LENGTH(StoreRemoteTemp);
          DISPATCH();
        }
        OP(PopStoreRemoteTemp) {
          space_.storePointer(frame::temps(fp)[ip[1]], ip[2], *sp--);
          ip += LENGTH(PopStoreRemoteTemp);
          DISPATCH();
        }
        OP(StoreGlobal) {
          Oop binding = regs_.literals[readWord(ip + 1)];
          space_.storePointer(binding, association_slot::kValue, *sp);
          ip += LENGTH(StoreGlobal);
          DISPATCH();
        }
        OP(MakeTempVector) {
          Oop vector = space_.tryAllocateYoung(rt_.known.array, space::Format::Indexable, ip[2]);
          if (vector.isNull()) {
            SAVE();
            vector = space_.allocate(rt_.known.array, space::Format::Indexable, ip[2]);
            LOAD();
          }
          frame::temps(fp)[ip[1]] = vector;
          ip += LENGTH(MakeTempVector);
          DISPATCH();
        }
        OP(Pop) {
          sp--;
          ip += LENGTH(Pop);
          DISPATCH();
        }
        OP(Dup) {
          sp[1] = sp[0];
          sp++;
          ip += LENGTH(Dup);
          DISPATCH();
        }

        // ---- arithmetic and comparison fast paths -----------------------------------------
#define INT_BINARY(guard, expr)                           \
  {                                                       \
    Oop a = sp[-1], b = sp[0];                            \
    if (bothSmall(a, b) && (intGuards_ & (guard))) {      \
      int64_t x = a.smallInteger(), y = b.smallInteger(); \
      expr;                                               \
    }                                                     \
    goto send_special;                                    \
  }
#define PUSH_INT(expr) PUSH_RESULT(Oop::fromSmallInteger(expr))
// An arithmetic answer. When the next instruction stores it into a temporary (an
// assignment "t := a + b"), the store is made at once, without pushing the answer; when
// a loop's back jump follows the store ("i := i + 1" closing a whileTrue:), it is taken
// at once too, checking interrupts as JumpBack does.
#define PUSH_RESULT(value)                                                       \
  do {                                                                           \
    Oop r_ = (value);                                                            \
    const uint8_t* next_ = ip + kSpecialSendLength;                              \
    if (*next_ == uint8_t(Op::PopStoreTemp)) {                                   \
      frame::temps(fp)[next_[1]] = r_;                                           \
      sp -= 2;                                                                   \
      ip = next_ + LENGTH(PopStoreTemp);                                         \
      if (*ip == uint8_t(Op::JumpBack)) {                                        \
        ip -= readWord(ip + 1) - LENGTH(JumpBack);                               \
        if (interruptRequested_.load(std::memory_order_relaxed)) goto interrupt; \
      }                                                                          \
      DISPATCH();                                                                \
    }                                                                            \
    *--sp = r_;                                                                  \
    ip = next_;                                                                  \
    DISPATCH();                                                                  \
  } while (0)
// A comparison's answer. When a conditional jump follows (a loop's or an ifTrue:'s test),
// it is taken at once: the Boolean is never pushed and the jump never dispatched. When the
// fast path does not apply, the send answers and the jump runs as written.
#define PUSH_BOOL(cond) PUSH_BOOL_AFTER(cond, kSpecialSendLength)
#define PUSH_BOOL_AFTER(cond, length)            \
  do {                                           \
    bool operandsCompared_ = (cond);             \
    sp -= 2;                                     \
    PUSH_BOOL_POPPED(operandsCompared_, length); \
  } while (0)

// A comparison's answer when its operands are popped already (float_chain, and
// PUSH_BOOL_AFTER once it has popped them), the comparison [length] bytes long.
#define PUSH_BOOL_POPPED(cond, length)                                             \
  do {                                                                             \
    bool c_ = (cond);                                                              \
    const uint8_t* next_ = ip + (length);                                          \
    if (*next_ == uint8_t(Op::JumpIfFalse) || *next_ == uint8_t(Op::JumpIfTrue)) { \
      bool jump_ = c_ == (*next_ == uint8_t(Op::JumpIfTrue));                      \
      ip = next_ + kConditionalJumpLength + (jump_ ? readWord(next_ + 1) : 0);     \
      DISPATCH();                                                                  \
    }                                                                              \
    *++sp = c_ ? true_ : false_;                                                   \
    ip = next_;                                                                    \
    DISPATCH();                                                                    \
  } while (0)

// Double + - *: the answer goes on in float_chain.
#define FLOAT_ARITH(op)                    \
  {                                        \
    double x, y;                           \
    if (bothSmallFloat(a, b)) [[likely]] { \
      x = a.smallFloat();                  \
      y = b.smallFloat();                  \
    } else if (!numberPair(a, b, x, y)) {  \
      goto send_special;                   \
    }                                      \
    chained = x op y;                      \
    sp -= 2;                               \
    ip += kSpecialSendLength;              \
    goto float_chain;                      \
  }
        OP(SendAdd) {
          Oop a = sp[-1], b = sp[0];
          if (bothSmall(a, b)) {
            int64_t r;
            if ((intGuards_ & kGuardAdd) && !__builtin_add_overflow(int64_t(a.bits()), int64_t(b.bits() - 1), &r)) {
              PUSH_RESULT(Oop::fromBits(uint64_t(r)));
            }
            goto send_special;
          }
          if (doubleGuard_) FLOAT_ARITH(+)
          goto send_special;
        }
        OP(SendSubtract) {
          Oop a = sp[-1], b = sp[0];
          if (bothSmall(a, b)) {
            int64_t r;
            if ((intGuards_ & kGuardSub) && !__builtin_sub_overflow(int64_t(a.bits()), int64_t(b.bits() - 1), &r)) {
              PUSH_RESULT(Oop::fromBits(uint64_t(r)));
            }
            goto send_special;
          }
          if (doubleGuard_) FLOAT_ARITH(-)
          goto send_special;
        }
        OP(SendMultiply) {
          Oop a = sp[-1], b = sp[0];
          if (bothSmall(a, b)) {
            int64_t r;
            if ((intGuards_ & kGuardMul) && !__builtin_mul_overflow(a.smallInteger(), b.smallInteger(), &r) &&
                Oop::fitsSmallInteger(r)) {
              PUSH_RESULT(Oop::fromSmallInteger(r));
            }
            goto send_special;
          }
          if (doubleGuard_) FLOAT_ARITH(*)
          goto send_special;
        }
        OP(SendDoubleDivide) {
          // Double // number; Integer>>// (and anything else) is sent.
          Oop a = sp[-1], b = sp[0];
          if (doubleDivideGuard_) FLOAT_ARITH(/)
          goto send_special;
        }
#define COMPARE(guard, op)                                                                 \
  {                                                                                        \
    Oop a = sp[-1], b = sp[0];                                                             \
    if (bothSmall(a, b)) {                                                                 \
      if (intGuards_ & (guard)) PUSH_BOOL(int64_t(a.bits()) op int64_t(b.bits()));         \
      goto send_special;                                                                   \
    }                                                                                      \
    if (doubleGuard_ && bothSmallFloat(a, b)) PUSH_BOOL(a.smallFloat() op b.smallFloat()); \
    double x, y;                                                                           \
    if (doubleGuard_ && numberPair(a, b, x, y)) PUSH_BOOL(x op y);                         \
    goto send_special;                                                                     \
  }
        // A macro body per bytecode, without semicolons: clang-format cannot settle on a layout.
        // clang-format off
        OP(SendLess) COMPARE(kGuardLt, <)
        OP(SendGreater) COMPARE(kGuardGt, >)
        OP(SendLessEqual) COMPARE(kGuardLe, <=)
        OP(SendGreaterEqual) COMPARE(kGuardGe, >=)
        OP(SendEqual) {
          // clang-format on
          Oop a = sp[-1], b = sp[0];
          if (bothSmall(a, b) && (intGuards_ & kGuardEq)) PUSH_BOOL(a == b);
          goto send_special;
        }
        OP(SendNotEqual) {
          Oop a = sp[-1], b = sp[0];
          if (bothSmall(a, b) && (intGuards_ & kGuardNe)) PUSH_BOOL(a != b);
          goto send_special;
        }
        OP(SendAnd) {
          // true/false && true/false; anything else (a block argument) is sent.
          Oop a = sp[-1], b = sp[0];
          if (booleanGuard_ && bothBooleans(a, b)) PUSH_BOOL(a == true_ && b == true_);
          goto send_special;
        }
        OP(SendOr) {
          Oop a = sp[-1], b = sp[0];
          if (booleanGuard_ && bothBooleans(a, b)) PUSH_BOOL(a == true_ || b == true_);
          goto send_special;
        }
        OP(SendIdentical) {
          Oop a = sp[-1], b = sp[0];
          if (a != b) {
            a = space::Space::follow(a);
            b = space::Space::follow(b);
          }
          PUSH_BOOL_AFTER(a == b, LENGTH(SendIdentical));
        }
        OP(SendNotIdentical) {
          Oop a = sp[-1], b = sp[0];
          if (a != b) {
            a = space::Space::follow(a);
            b = space::Space::follow(b);
          }
          PUSH_BOOL_AFTER(a != b, LENGTH(SendNotIdentical));
        }
        // clang-format off
        OP(SendBitAnd) INT_BINARY(kGuardBitAnd, PUSH_INT(x & y))
        OP(SendBitOr) INT_BINARY(kGuardBitOr, PUSH_INT(x | y))
        OP(SendShiftLeft) {
          // clang-format on
          Oop a = sp[-1], b = sp[0];
          if (bothSmall(a, b) && (intGuards_ & kGuardShl)) {
            int64_t x = a.smallInteger(), y = b.smallInteger();
            if (y >= 0 && y < 62) {
              int64_t r = int64_t(uint64_t(x) << y);
              if ((r >> y) == x && Oop::fitsSmallInteger(r)) {
                *--sp = Oop::fromSmallInteger(r);
                ip += LENGTH(SendShiftLeft);
                DISPATCH();
              }
            }
          }
          goto send_special;
        }
        OP(SendShiftRight) {
          Oop a = sp[-1], b = sp[0];
          if (bothSmall(a, b) && (intGuards_ & kGuardShr)) {
            int64_t x = a.smallInteger(), y = b.smallInteger();
            if (y >= 0) {  // arithmetic, as Integer>>#>> (and >>>)
              *--sp = Oop::fromSmallInteger(y >= 63 ? (x < 0 ? -1 : 0) : x >> y);
              ip += LENGTH(SendShiftRight);
              DISPATCH();
            }
          }
          goto send_special;
        }
        OP(SendQuotient) {
          Oop a = sp[-1], b = sp[0];
          if (bothSmall(a, b) && (intGuards_ & kGuardQuo)) {
            int64_t x = a.smallInteger(), y = b.smallInteger();
            if (y != 0 && !(y == -1 && x == Oop::kSmallIntegerMin)) {  // that one overflows
              *--sp = Oop::fromSmallInteger(largeint::floorDivide(x, y));
              ip += LENGTH(SendQuotient);
              DISPATCH();
            }
          }
          goto send_special;
        }
        OP(SendModulo) {
          Oop a = sp[-1], b = sp[0];
          if (bothSmall(a, b) && (intGuards_ & kGuardMod)) {
            int64_t x = a.smallInteger(), y = b.smallInteger();
            if (y != 0) {
              *--sp = Oop::fromSmallInteger(largeint::floorModulo(x, y));
              ip += LENGTH(SendModulo);
              DISPATCH();
            }
          }
          goto send_special;
        }
        OP(SendAt) {
          Oop a = sp[-1], b = sp[0];
          if (arrayAtGuard_ && b.isSmallInteger() && a.isHeapObject() && a.object()->classIndex() == rt_.known.array) {
            uint64_t i = uint64_t(b.smallInteger() - 1);
            if (i < a.object()->slotCount()) {
              *--sp = a.object()->slot(i);
              ip += LENGTH(SendAt);
              DISPATCH();
            }
          }
          goto send_special;
        }
        OP(SendAtPut) {
          Oop a = sp[-2], b = sp[-1];
          if (arrayAtGuard_ && b.isSmallInteger() && a.isHeapObject() && a.object()->classIndex() == rt_.known.array) {
            uint64_t i = uint64_t(b.smallInteger() - 1);
            if (i < a.object()->slotCount()) {
              Oop v = sp[0];
              space_.storePointer(a, i, v);
              ip += LENGTH(SendAtPut);
              if (*ip == uint8_t(Op::Pop)) {
                // A statement "a at: i put: v.": its answer is dropped at once.
                sp -= 3;
                ip += LENGTH(Pop);
                DISPATCH();
              }
              sp -= 2;
              *sp = v;
              DISPATCH();
            }
          }
          goto send_special;
        }
        OP(SendValue) {
          Oop a = sp[0];
          if (blockValueGuard_ && a.isHeapObject() && a.object()->classIndex() == rt_.known.block[0]) {
            ip += LENGTH(SendValue);
            SAVE();
            pushBlockFrame(a, 0);
            LOAD();
            if (interruptRequested_.load(std::memory_order_relaxed)) goto interrupt;
            DISPATCH();
          }
          goto send_special;
        }

      float_chain : {
        // [chained] is the Double answer of an arithmetic fast path, not pushed yet: its
        // operands are popped and ip is at the next instruction. While that instruction
        // sends + - * < > <= >= to the answer with a number argument from a temporary or
        // a literal (PushTemp fused with the send, or PushLiteral then the send), or sends
        // + - * // to a Double on the stack with the answer as argument, it is computed on the
        // unboxed double: those sends run Double's kernel primitives (the guard that led
        // here holds, and nothing in between can change it), and each intermediate Double,
        // encoded and decoded, would read back exactly. Only the last answer is encoded.
        //
        // When the answer is stored into a temporary, it is also entered in floatTemps_,
        // and when the next instruction starts another such send from temporaries or a
        // literal (chain_restart), that send goes on in the same way, without a dispatch.
        // Temporaries are read through floatTemps_ (CHAIN_TEMP): a value a chain stored is
        // taken as the double it was, not decoded from what was just encoded.
// [y] := the number in temporary [n]: a Double, or also a SmallInteger when [receiver] is
// false; otherwise the chain ends (break).
#define CHAIN_TEMP(n, y, receiver)                                                                                \
  if (unsigned n_ = (n); FLOAT_TEMP_HIT(n_)) [[likely]] {                                                         \
    y = floatTemps_[n_].value;                                                                                    \
  } else if (!((receiver) ? doubleReceiver(frame::temps(fp)[n_], y) : numberArgument(frame::temps(fp)[n_], y))) { \
    break;                                                                                                        \
  }
// Sends operation [k] (kChainSends' order) to [chained] with [y], the instruction [length]
// bytes long; arithmetic goes on at chain_loop.
#define CHAIN_STEP(k, y, length)                \
  switch (k) {                                  \
    case 0:                                     \
      chained = chained + (y);                  \
      ip += (length);                           \
      goto chain_loop;                          \
    case 1:                                     \
      chained = chained - (y);                  \
      ip += (length);                           \
      goto chain_loop;                          \
    case 2:                                     \
      chained = chained * (y);                  \
      ip += (length);                           \
      goto chain_loop;                          \
    case 3:                                     \
      PUSH_BOOL_POPPED(chained < (y), length);  \
    case 4:                                     \
      PUSH_BOOL_POPPED(chained > (y), length);  \
    case 5:                                     \
      PUSH_BOOL_POPPED(chained <= (y), length); \
    default:                                    \
      PUSH_BOOL_POPPED(chained >= (y), length); \
  }
      chain_loop:
        for (;;) {
          double y;
          // A store ends most chains (`zr := ...`): it goes to the encoding at once.
          if (*ip == uint8_t(Op::PopStoreTemp)) break;
          if (unsigned k = unsigned(*ip) - unsigned(Op::PushTempSendAdd); k < kChainSends) {
            CHAIN_TEMP(ip[1], y, false)
            CHAIN_STEP(k, y, LENGTH(PushTempSendAdd))
          }
          if (*ip == uint8_t(Op::PushLiteral)) {
            unsigned k = unsigned(ip[LENGTH(PushLiteral)]) - unsigned(Op::SendAdd);
            if (k >= kChainSends || !numberArgument(regs_.literals[readWord(ip + 1)], y)) break;
            CHAIN_STEP(k, y, LENGTH(PushLiteral) + kSpecialSendLength)
          }
          if (unsigned k = unsigned(*ip) - unsigned(Op::SendAdd); k < kChainArithmetic) {
            double x;
            if (!doubleReceiver(*sp, x)) break;
            sp--;
            chained = k == 0 ? x + chained : k == 1 ? x - chained : x * chained;
            ip += kSpecialSendLength;
            continue;
          }
          if (*ip == uint8_t(Op::SendDoubleDivide) && doubleDivideGuard_) {
            double x;
            if (!doubleReceiver(*sp, x)) break;
            sp--;
            chained = x / chained;
            ip += kSpecialSendLength;
            continue;
          }
          break;
        }
        {
          Oop result;
          if (Oop::tryFromDouble(chained, result)) [[likely]] {
            if (*ip == uint8_t(Op::PopStoreTemp)) {
              unsigned n = ip[1];
              frame::temps(fp)[n] = result;
              if (n < kFloatTemps) floatTemps_[n] = {result.bits(), chained};
              ip += LENGTH(PopStoreTemp);
              goto chain_restart;
            }
          } else {
            SAVE();
            result = newDouble(rt_, chained);
            LOAD();
            if (*ip == uint8_t(Op::PopStoreTemp)) {
              frame::temps(fp)[ip[1]] = result;
              ip += LENGTH(PopStoreTemp);
              goto chain_restart;
            }
          }
          *++sp = result;
          DISPATCH();
        }
      chain_restart:
        // The next instruction sends + - * < > <= >= to a Double from a temporary
        // (PushTempPushTemp...) or a literal (PushLiteral then PushTemp...), with a number
        // from a temporary as argument: the chain goes on. One pass: break leaves the
        // instruction to its handler.
        for (;;) {
          double y;
          if (unsigned k = unsigned(*ip) - unsigned(Op::PushTempPushTempSendAdd); k < kChainSends) {
            CHAIN_TEMP(ip[1], chained, true)
            CHAIN_TEMP(ip[2], y, false)
            CHAIN_STEP(k, y, LENGTH(PushTempPushTempSendAdd))
          }
          if (*ip != uint8_t(Op::PushLiteral)) break;
          unsigned k = unsigned(ip[LENGTH(PushLiteral)]) - unsigned(Op::PushTempSendAdd);
          if (k >= kChainSends || !doubleReceiver(regs_.literals[readWord(ip + 1)], chained)) break;
          CHAIN_TEMP(ip[LENGTH(PushLiteral) + 1], y, false)
          CHAIN_STEP(k, y, LENGTH(PushLiteral) + LENGTH(PushTempSendAdd))
        }
        DISPATCH();
#undef CHAIN_STEP
#undef CHAIN_TEMP
      }

      send_special:
        // A special send whose fast path did not apply: an ordinary send through its site.
        site = regs_.sites + size_t(readWord(ip + 1)) * send_site::kSlots;
        isSuper = false;
        ip += kSpecialSendLength;
        goto send;

        OP(Send) {
          site = regs_.sites + size_t(readWord(ip + 1)) * send_site::kSlots;
          isSuper = false;
          ip += LENGTH(Send);
          goto send;
        }
        OP(SuperSend) {
          site = regs_.sites + size_t(readWord(ip + 1)) * send_site::kSlots;
          isSuper = true;
          ip += LENGTH(SuperSend);
          goto send;
        }

      send : {
        // Inline cache: two entries keyed on the receiver's class index.
        argc = int(site[send_site::kInfo].smallInteger());
        Oop receiver = sp[-argc];
        Oop cls = Oop::fromSmallInteger(space_.classIndexOf(receiver));
        if (site[send_site::kClass0] == cls) {
          method = site[send_site::kMethod0];
        } else if (site[send_site::kClass1] == cls) {
          method = site[send_site::kMethod1];
        } else {
          SAVE();
          method = lookupForSite(site, argc, isSuper);
          LOAD();
          CHECK_STOP();
          if (method.isNull()) DISPATCH();  // the process failed; another one runs now
        }
        goto activate;
      }

      activate : {
        HeapObject* m = method.object();
        Oop quick = m->slot(code_slot::kQuick);
        if (quick.bits() != Oop::fromSmallInteger(0).bits()) {
          // A field setter as a statement ("p x: 3."): the next instruction drops its
          // answer (the receiver), so it is dropped at once.
#define SETTER_ANSWER_DROPPED()  \
  if (*ip == uint8_t(Op::Pop)) { \
    sp -= 1;                     \
    ip += LENGTH(Pop);           \
  }
          int64_t q = quick.smallInteger();
          ESPELL_RUN_QUICK_METHOD(q, sp, argc, SETTER_ANSWER_DROPPED())
#undef SETTER_ANSWER_DROPPED
          DISPATCH();
        }
        int64_t header = codeHeaderOf(method);
        if (unsigned prim = CodeHeader::primitive(header)) {
          SAVE();
          PrimitiveResult r = callPrimitive(prim, argc, sp, fp);
          if (r == PrimitiveResult::Success) {
            sp = regs_.sp;
            DISPATCH();
          }
          LOAD();
          if (r == PrimitiveResult::ControlTransferred) {
            CHECK_STOP();
            // Loops made of primitives that transfer control (restarting a context, a
            // perform: chain) reach the heartbeat's check here, as sends and jumps do.
            if (interruptRequested_.load(std::memory_order_relaxed)) goto interrupt;
            DISPATCH();
          }
          method = m->asOop();  // the primitive failed: run the method's code
        }
        if (!frame::fits(sp, header, regs_.limit)) {
          // Slow path: grow the stack, or answer StackOverflow.
          SAVE();
          pushFrame(method, argc);
          LOAD();
          CHECK_STOP();
        } else {
          Oop* newSp = frame::pushMethod(sp, argc, method, header, fp - regs_.slots, ip - regs_.code, nil_);
          fp = sp + 1;
          sp = newSp;
          loadCodeRegisters(method);
          ip = regs_.code;
        }
        if (interruptRequested_.load(std::memory_order_relaxed)) goto interrupt;
        DISPATCH();
      }

// A return from a frame without a context (no contexts to widow) that has a caller (the
// process goes on): everything else takes returnFromFrame.
#define RETURN_FAST(value)                                  \
  if (frame::context(fp) == nil_ && !frame::isBottom(fp)) { \
    Oop result_ = (value);                                  \
    int64_t callerIp_ = frame::callerIp(fp);                \
    sp = frame::resultSlot(fp);                             \
    *sp = result_;                                          \
    fp = regs_.slots + frame::callerIndex(fp);              \
    loadCodeRegisters(frame::code(fp));                     \
    ip = regs_.code + callerIp_;                            \
    DISPATCH();                                             \
  }
// A return whose fast path did not apply: the frame has a context to widow, or it is the
// process's bottom frame.
#define RETURN_SLOW(value)        \
  {                               \
    SAVE();                       \
    returnFromFrame(fp, (value)); \
    LOAD();                       \
    CHECK_STOP();                 \
    DISPATCH();                   \
  }
        OP(ReturnTop) {
          Oop result = *sp;
          RETURN_FAST(result)
          RETURN_SLOW(result)
        }
        OP(ReturnSelf) {
          Oop result = SELF();
          RETURN_FAST(result)
          RETURN_SLOW(result)
        }
        OP(BlockReturn) {
          Oop result = *sp;
          RETURN_FAST(result)
          RETURN_SLOW(result)
        }
        OP(NonLocalReturn) {
          Oop result = *sp;
          ip += LENGTH(NonLocalReturn);
          SAVE();
          nonLocalReturn(result);
          LOAD();
          CHECK_STOP();
          DISPATCH();
        }
        OP(Jump) {
          ip += LENGTH(Jump) + readWord(ip + 1);
          DISPATCH();
        }
        OP(JumpBack) {
          // Written as a subtraction: the equivalent addition of a negative changes how the
          // compiler allocates the loop's registers (an instruction more per dispatch).
          ip -= readWord(ip + 1) - LENGTH(JumpBack);
          if (interruptRequested_.load(std::memory_order_relaxed)) goto interrupt;
          DISPATCH();
        }
        OP(JumpIfTrue) {
          Oop v = *sp;
          if (v == true_) {
            sp--;
            ip += LENGTH(JumpIfTrue) + readWord(ip + 1);
            DISPATCH();
          }
          if (v == false_) {
            sp--;
            ip += LENGTH(JumpIfTrue);
            DISPATCH();
          }
          goto not_boolean;
        }
        OP(JumpIfFalse) {
          Oop v = *sp;
          if (v == false_) {
            sp--;
            ip += LENGTH(JumpIfFalse) + readWord(ip + 1);
            DISPATCH();
          }
          if (v == true_) {
            sp--;
            ip += LENGTH(JumpIfFalse);
            DISPATCH();
          }
          goto not_boolean;
        }
        OP(JumpIfNil) {
          Oop v = *sp--;
          ip += v == nil_ ? LENGTH(JumpIfNil) + readWord(ip + 1) : LENGTH(JumpIfNil);
          DISPATCH();
        }
        OP(JumpIfNotNil) {
          Oop v = *sp--;
          ip += v != nil_ ? LENGTH(JumpIfNotNil) + readWord(ip + 1) : LENGTH(JumpIfNotNil);
          DISPATCH();
        }
        // Fused push and send: push as the push instruction does, step over its operand
        // (the send's handler then finds its site word at ip + 1), and run the send.
        // A fused push and unary Send (`iBody x`, `self mass`: the pushed value is the
        // receiver) is sent here, as `send` and `activate` would, without reloading the
        // argument count and the receiver (FUSED_GETTER); a field reader that the inline
        // cache finds answers the field at once. It reads the same entries and the same
        // quick-method slot as the send would (ESPELL_RUN_QUICK_METHOD), so a method
        // redefined live (its sites cleared by ClassBuilder::invalidateAll) is looked up
        // and sent as any method. Keyword sends and cache misses go on at `send`, with the
        // site found here.
#define FUSED_GETTER_Send(push)                                                                \
  if (Op::push != Op::PushSmallInteger) {                                                      \
    Oop r_ = PUSHED_##push;                                                                    \
    site = regs_.sites + size_t(readWord(ip + instructionSize(Op::push))) * send_site::kSlots; \
    *++sp = r_;                                                                                \
    ip += LENGTH(push##Send);                                                                  \
    isSuper = false;                                                                           \
    if (site[send_site::kInfo] != Oop::fromSmallInteger(0)) goto send;                         \
    Oop cls_ = Oop::fromSmallInteger(space_.classIndexOf(r_));                                 \
    if (site[send_site::kClass0] == cls_) {                                                    \
      method = site[send_site::kMethod0];                                                      \
    } else if (site[send_site::kClass1] == cls_) {                                             \
      method = site[send_site::kMethod1];                                                      \
    } else {                                                                                   \
      goto send;                                                                               \
    }                                                                                          \
    int64_t q_ = method.object()->slot(code_slot::kQuick).smallInteger();                      \
    if (QuickMethod::kind(q_) == QuickMethod::ReturnField) {                                   \
      *sp = r_.object()->slot(QuickMethod::field(q_));                                         \
      DISPATCH();                                                                              \
    }                                                                                          \
    argc = 0;                                                                                  \
    goto activate;                                                                             \
  }
#define FUSED_GETTER_SendAdd(push)
#define FUSED_GETTER_SendSubtract(push)
#define FUSED_GETTER_SendMultiply(push)
#define FUSED_GETTER_SendLess(push)
#define FUSED_GETTER_SendGreater(push)
#define FUSED_GETTER_SendLessEqual(push)
#define FUSED_GETTER_SendGreaterEqual(push)
#define FUSED_GETTER_SendEqual(push)
#define FUSED_GETTER_SendAt(push)
#define ESPELL_FUSED_HANDLER(send, effect, X, push, operands) \
  OP(push##send) {                                            \
    FUSED_GETTER_##send(push);                                \
    *++sp = PUSHED_##push;                                    \
    ip += instructionSize(Op::push) - 1;                      \
    goto L_##send;                                            \
  }
        ESPELL_FUSED_OPCODES(ESPELL_FUSED_HANDLER, _)
#undef ESPELL_FUSED_HANDLER
#undef FUSED_GETTER_Send
#undef FUSED_GETTER_SendAdd
#undef FUSED_GETTER_SendSubtract
#undef FUSED_GETTER_SendMultiply
#undef FUSED_GETTER_SendLess
#undef FUSED_GETTER_SendGreater
#undef FUSED_GETTER_SendLessEqual
#undef FUSED_GETTER_SendGreaterEqual
#undef FUSED_GETTER_SendEqual
#undef FUSED_GETTER_SendAt
        // Paired: PushTemp's value, then the fused instruction's push, then its send.
        // Two SmallFloat temporaries (PushTempPushTemp...) are computed on at once, as the
        // send's handler would (the same guard, the answer on in float_chain), taking each
        // from floatTemps_ when it is there instead of decoding it.
#define PAIRED_DOUBLES_PushSmallInteger(send)
#define PAIRED_DOUBLES_PushArgument(send)
#define PAIRED_DOUBLES_PushTemp(send)                                           \
  {                                                                             \
    unsigned i_ = ip[1], j_ = ip[2];                                            \
    Oop a_ = frame::temps(fp)[i_], b_ = frame::temps(fp)[j_];                   \
    if (!bothSmall(a_, b_) && bothSmallFloat(a_, b_) && doubleGuard_) {         \
      double x_ = FLOAT_TEMP_HIT(i_) ? floatTemps_[i_].value : a_.smallFloat(); \
      double y_ = FLOAT_TEMP_HIT(j_) ? floatTemps_[j_].value : b_.smallFloat(); \
      PAIRED_DOUBLE_##send(x_, y_, LENGTH(PushTempPushTemp##send))              \
    }                                                                           \
  }
#define PAIRED_DOUBLE_ARITH(expr, length) \
  chained = (expr);                       \
  ip += (length);                         \
  goto float_chain;
#define PAIRED_DOUBLE_SendAdd(x, y, length) PAIRED_DOUBLE_ARITH(x + y, length)
#define PAIRED_DOUBLE_SendSubtract(x, y, length) PAIRED_DOUBLE_ARITH(x - y, length)
#define PAIRED_DOUBLE_SendMultiply(x, y, length) PAIRED_DOUBLE_ARITH(x* y, length)
#define PAIRED_DOUBLE_SendLess(x, y, length) PUSH_BOOL_POPPED(x < y, length);
#define PAIRED_DOUBLE_SendGreater(x, y, length) PUSH_BOOL_POPPED(x > y, length);
#define PAIRED_DOUBLE_SendLessEqual(x, y, length) PUSH_BOOL_POPPED(x <= y, length);
#define PAIRED_DOUBLE_SendGreaterEqual(x, y, length) PUSH_BOOL_POPPED(x >= y, length);
#define ESPELL_PAIRED_HANDLER(send, X, push) \
  OP(PushTemp##push##send) {                 \
    PAIRED_DOUBLES_##push(send);             \
    sp[1] = PUSHED_PushTemp;                 \
    ip += 1;                                 \
    sp[2] = PUSHED_##push;                   \
    sp += 2;                                 \
    ip += instructionSize(Op::push) - 1;     \
    goto L_##send;                           \
  }
        ESPELL_PAIRED_OPCODES(ESPELL_PAIRED_HANDLER, _)
#undef ESPELL_PAIRED_HANDLER
#undef PAIRED_DOUBLES_PushSmallInteger
#undef PAIRED_DOUBLES_PushArgument
#undef PAIRED_DOUBLES_PushTemp
#undef PAIRED_DOUBLE_ARITH
#undef PAIRED_DOUBLE_SendAdd
#undef PAIRED_DOUBLE_SendSubtract
#undef PAIRED_DOUBLE_SendMultiply
#undef PAIRED_DOUBLE_SendLess
#undef PAIRED_DOUBLE_SendGreater
#undef PAIRED_DOUBLE_SendLessEqual
#undef PAIRED_DOUBLE_SendGreaterEqual

        OP(ForLoopUp) {
          // A step that cannot end the loop: counter < limit, both SmallIntegers, and
          // SmallInteger's + and <= are the VM's. Anything else: the general step follows.
          Oop* t = frame::temps(fp);
          Oop counter = t[ip[1]], limit = t[ip[2]];
          if (bothSmall(counter, limit) && (intGuards_ & (kGuardAdd | kGuardLe)) == (kGuardAdd | kGuardLe) &&
              int64_t(counter.bits()) < int64_t(limit.bits())) {
            t[ip[1]] = Oop::fromBits(counter.bits() + (Oop::fromSmallInteger(1).bits() - 1));
            ip -= readWord(ip + 3) - LENGTH(ForLoopUp);
            if (interruptRequested_.load(std::memory_order_relaxed)) goto interrupt;
            DISPATCH();
          }
          ip += LENGTH(ForLoopUp);
          DISPATCH();
        }
        OP(ForLoopDown) {
          Oop* t = frame::temps(fp);
          Oop counter = t[ip[1]], limit = t[ip[2]];
          if (bothSmall(counter, limit) && (intGuards_ & (kGuardSub | kGuardGe)) == (kGuardSub | kGuardGe) &&
              int64_t(counter.bits()) > int64_t(limit.bits())) {
            t[ip[1]] = Oop::fromBits(counter.bits() - (Oop::fromSmallInteger(1).bits() - 1));
            ip -= readWord(ip + 3) - LENGTH(ForLoopDown);
            if (interruptRequested_.load(std::memory_order_relaxed)) goto interrupt;
            DISPATCH();
          }
          ip += LENGTH(ForLoopDown);
          DISPATCH();
        }
        OP(UpdatePoint) {
          // The value (nil) is pushed first: a parked process resumes after this instruction.
          ip += LENGTH(UpdatePoint);
          *++sp = nil_;
          if (updateRequested_.load(std::memory_order_acquire)) {
            SAVE();
            handleUpdatePoint();
            LOAD();
            CHECK_STOP();
          }
          DISPATCH();
        }

      not_boolean : {
        // A conditional jump on a non-Boolean: "Processor mustBeBoolean: value", then test
        // its answer by re-executing the jump (the call returns to this instruction).
        Oop value = *sp;
        *sp = rt_.special(special::kProcessor);
        *++sp = value;
        SAVE();
        sendFromPrimitive(rt_.special(special::kSelectorMustBeBoolean), 1);
        LOAD();
        CHECK_STOP();
        DISPATCH();
      }

      interrupt : {
        interruptRequested_.store(false, std::memory_order_relaxed);
        SAVE();
        handleInterrupts();
        LOAD();
        CHECK_STOP();
        DISPATCH();
      }

#ifndef ESPELL_COMPUTED_GOTO
      default:
        break;
      }
      failActiveProcess("invalid bytecode " + std::to_string(*ip));
      LOAD();
      CHECK_STOP();
#endif
    }
  } catch (const space::HeapExhausted& e) {
    failActiveProcess(std::string("out of memory: ") + e.what());
    return stopRequested_ ? stopReason_ : StopReason::Idle;
  } catch (const LongOperationAbandoned&) {
    return StopReason::Exit;  // the program ends (Runtime::endProgram stopped the interpreter)
  }
#undef SAVE
#undef LOAD
#undef SELF
#undef CHECK_STOP
#undef LENGTH
#undef CHECK_REGISTERS
#undef RETURN_FAST
#undef RETURN_SLOW
#undef PUSHED_PushSelf
#undef PUSHED_PushSmallInteger
#undef PUSHED_PushArgument
#undef PUSHED_PushTemp
#undef PUSHED_PushField
#undef FLOAT_TEMP_HIT
#undef DISPATCH
#undef OP
}

}  // namespace vm
