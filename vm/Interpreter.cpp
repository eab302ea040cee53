// Interpreter: the dispatch loop. Only this loop is long; everything it does rarely lives in
// named helpers (InterpreterFrames.cpp, InterpreterSends.cpp).
//
// Hazards are visible: SAVE() writes the registers back before anything that may allocate,
// collect, switch process or re-enter; LOAD() re-reads them afterwards. Stacks and compiled
// code live in old space and never move, so pointers into them survive collections.
#include "vm/Interpreter.h"

#include <cmath>
#include <cstring>

#include "vm/ClassLoader.h"
#include "vm/LargeInteger.h"
#include "vm/MethodCache.h"
#include "vm/Objects.h"
#include "vm/Opcodes.h"
#include "vm/Scheduler.h"

namespace vm {

using space::HeapObject;
using namespace space::reserved_class;

namespace {
inline uint16_t readWord(const uint8_t* p) {
  return uint16_t(p[0] | (p[1] << 8));
}
constexpr uint64_t kSmallIntegerTag = 1;
inline bool bothSmall(Oop a, Oop b) {
  return (a.bits() & b.bits() & kSmallIntegerTag) != 0;
}
}  // namespace

// Both operands as doubles when the receiver is a Double and the argument a Double or a
// SmallInteger (the fast paths of Double's arithmetic and comparisons).
inline bool Interpreter::numberPair(Oop a, Oop b, double& x, double& y) const {
  if (a.isSmallFloat()) {
    x = a.smallFloat();
  } else if (a.isHeapObject() && a.object()->classIndex() == rt_.known.doubleClass) {
    x = doubleOf(a);
  } else {
    return false;
  }
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

StopReason Interpreter::run() {
  stopRequested_ = false;
  if (activeProcess() == nil_ || regs_.stack.isNull()) return StopReason::Idle;

  Oop* sp;
  Oop* fp;
  const uint8_t* ip;
  Oop method;
  int argc = 0;
  Oop* site = nullptr;
  bool isSuper = false;

#define SAVE() (regs_.sp = sp, regs_.fp = fp, regs_.ip = ip, saveRegisters())
#define LOAD() (sp = regs_.sp, fp = regs_.fp, ip = regs_.ip)
#define SELF() (fp[frame_slot::kSelf])
#define CHECK_STOP()                        \
  do {                                      \
    if (stopRequested_) return stopReason_; \
  } while (0)

#ifdef ESPELL_COMPUTED_GOTO
  static void* const kDispatch[] = {
#define ESPELL_OP_LABEL(name, operands, effect, description) &&L_##name,
      ESPELL_OPCODES(ESPELL_OP_LABEL)
#undef ESPELL_OP_LABEL
  };
#define DISPATCH() goto* kDispatch[*ip]
#define OP(name) L_##name:
#else
#define DISPATCH() goto dispatch
#define OP(name) case Op::name:
#endif

  try {
    LOAD();
    for (;;) {
#ifndef ESPELL_COMPUTED_GOTO
    dispatch:
      switch (Op(*ip)) {
#endif
        DISPATCH();

        OP(PushSelf) {
          *++sp = SELF();
          ip += 1;
          DISPATCH();
        }
        OP(PushNil) {
          *++sp = nil_;
          ip += 1;
          DISPATCH();
        }
        OP(PushTrue) {
          *++sp = true_;
          ip += 1;
          DISPATCH();
        }
        OP(PushFalse) {
          *++sp = false_;
          ip += 1;
          DISPATCH();
        }
        OP(PushSmallInteger) {
          *++sp = Oop::fromSmallInteger(int8_t(ip[1]));
          ip += 2;
          DISPATCH();
        }
        OP(PushArgument) {
          int n = int(CodeHeader::args(fp[frame_slot::kMethod].object()->slot(code_slot::kHeader).smallInteger()));
          *++sp = fp[ip[1] - n];
          ip += 2;
          DISPATCH();
        }
        OP(PushTemp) {
          *++sp = fp[frame_slot::kFirstTemp + ip[1]];
          ip += 2;
          DISPATCH();
        }
        OP(PushField) {
          *++sp = SELF().object()->slot(ip[1]);
          ip += 2;
          DISPATCH();
        }
        OP(PushLiteral) {
          *++sp = regs_.literals[readWord(ip + 1)];
          ip += 3;
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
              ip += 3;
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
          ip += 3;
          DISPATCH();
        }
        OP(PushRemoteTemp) {
          Oop vector = fp[frame_slot::kFirstTemp + ip[1]];
          *++sp = vector.object()->slot(ip[2]);
          ip += 3;
          DISPATCH();
        }
        OP(PushThisContext) {
          SAVE();
          Oop ctx = contextOfCurrentFrame();
          LOAD();
          *++sp = ctx;
          ip += 1;
          DISPATCH();
        }
        OP(PushClosure) {
          int copied = ip[3];
          Oop code = regs_.literals[readWord(ip + 1)];
          int64_t header = code.object()->slot(code_slot::kHeader).smallInteger();
          Oop outer = nil_;
          if (CodeHeader::has(header, CodeHeader::kNeedsOuterContext)) {
            // The home method's context, for non-local returns.
            int64_t h = fp[frame_slot::kMethod].object()->slot(code_slot::kHeader).smallInteger();
            if (CodeHeader::has(h, CodeHeader::kIsBlock)) {
              outer = fp[-int(CodeHeader::args(h)) - 1].object()->slot(closure_slot::kOuterContext);
            } else if ((outer = fp[frame_slot::kContext]) == nil_) {
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
          ip += 4;
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
          ip += 2;
          DISPATCH();
        }
        OP(StoreTemp) {
          fp[frame_slot::kFirstTemp + ip[1]] = *sp;
          ip += 2;
          DISPATCH();
        }
        OP(PopStoreTemp) {
          fp[frame_slot::kFirstTemp + ip[1]] = *sp--;
          ip += 2;
          DISPATCH();
        }
        OP(StoreField) {
          space_.storePointer(SELF(), ip[1], *sp);
          ip += 2;
          DISPATCH();
        }
        OP(PopStoreField) {
          space_.storePointer(SELF(), ip[1], *sp--);
          ip += 2;
          DISPATCH();
        }
        OP(StoreRemoteTemp) {
          space_.storePointer(fp[frame_slot::kFirstTemp + ip[1]], ip[2], *sp);
          ip += 3;
          DISPATCH();
        }
        OP(PopStoreRemoteTemp) {
          space_.storePointer(fp[frame_slot::kFirstTemp + ip[1]], ip[2], *sp--);
          ip += 3;
          DISPATCH();
        }
        OP(StoreGlobal) {
          Oop binding = regs_.literals[readWord(ip + 1)];
          space_.storePointer(binding, association_slot::kValue, *sp);
          ip += 3;
          DISPATCH();
        }
        OP(MakeTempVector) {
          Oop vector = space_.tryAllocateYoung(rt_.known.array, space::Format::Indexable, ip[2]);
          if (vector.isNull()) {
            SAVE();
            vector = space_.allocate(rt_.known.array, space::Format::Indexable, ip[2]);
            LOAD();
          }
          fp[frame_slot::kFirstTemp + ip[1]] = vector;
          ip += 3;
          DISPATCH();
        }
        OP(Pop) {
          sp--;
          ip += 1;
          DISPATCH();
        }
        OP(Dup) {
          sp[1] = sp[0];
          sp++;
          ip += 1;
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
#define PUSH_INT(expr)                   \
  do {                                   \
    *--sp = Oop::fromSmallInteger(expr); \
    ip += 3;                             \
    DISPATCH();                          \
  } while (0)
#define PUSH_BOOL(cond)              \
  do {                               \
    *--sp = (cond) ? true_ : false_; \
    ip += 3;                         \
    DISPATCH();                      \
  } while (0)

#define FLOAT_ARITH(op)                             \
  {                                                 \
    double x, y;                                    \
    if (!numberPair(a, b, x, y)) goto send_special; \
    double r = x op y;                              \
    Oop result;                                     \
    if (!Oop::tryFromDouble(r, result)) {           \
      SAVE();                                       \
      result = newDouble(rt_, r);                   \
      LOAD();                                       \
    }                                               \
    *--sp = result;                                 \
    ip += 3;                                        \
    DISPATCH();                                     \
  }
        OP(SendAdd) {
          Oop a = sp[-1], b = sp[0];
          if (bothSmall(a, b)) {
            int64_t r;
            if ((intGuards_ & kGuardAdd) && !__builtin_add_overflow(int64_t(a.bits()), int64_t(b.bits() - 1), &r)) {
              *--sp = Oop::fromBits(uint64_t(r));
              ip += 3;
              DISPATCH();
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
              *--sp = Oop::fromBits(uint64_t(r));
              ip += 3;
              DISPATCH();
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
              *--sp = Oop::fromSmallInteger(r);
              ip += 3;
              DISPATCH();
            }
            goto send_special;
          }
          if (doubleGuard_) FLOAT_ARITH(*)
          goto send_special;
        }
#define COMPARE(guard, op)                                                         \
  {                                                                                \
    Oop a = sp[-1], b = sp[0];                                                     \
    if (bothSmall(a, b)) {                                                         \
      if (intGuards_ & (guard)) PUSH_BOOL(int64_t(a.bits()) op int64_t(b.bits())); \
      goto send_special;                                                           \
    }                                                                              \
    double x, y;                                                                   \
    if (doubleGuard_ && numberPair(a, b, x, y)) PUSH_BOOL(x op y);                 \
    goto send_special;                                                             \
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
        OP(SendIdentical) {
          Oop a = sp[-1], b = sp[0];
          if (a != b) {
            a = space::Space::follow(a);
            b = space::Space::follow(b);
          }
          *--sp = a == b ? true_ : false_;
          ip += 1;
          DISPATCH();
        }
        OP(SendNotIdentical) {
          Oop a = sp[-1], b = sp[0];
          if (a != b) {
            a = space::Space::follow(a);
            b = space::Space::follow(b);
          }
          *--sp = a != b ? true_ : false_;
          ip += 1;
          DISPATCH();
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
                ip += 3;
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
            if (x >= 0 && y >= 0) {
              *--sp = Oop::fromSmallInteger(y >= 63 ? 0 : x >> y);
              ip += 3;
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
              ip += 3;
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
              ip += 3;
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
              ip += 3;
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
              sp -= 2;
              *sp = v;
              ip += 3;
              DISPATCH();
            }
          }
          goto send_special;
        }
        OP(SendValue) {
          Oop a = sp[0];
          if (blockValueGuard_ && a.isHeapObject() && a.object()->classIndex() == rt_.known.block[0]) {
            ip += 3;
            SAVE();
            pushBlockFrame(a, 0);
            LOAD();
            if (interruptRequested_.load(std::memory_order_relaxed)) goto interrupt;
            DISPATCH();
          }
          goto send_special;
        }

      send_special:
        // A special send whose fast path did not apply: an ordinary send through its site.
        site = regs_.sites + size_t(readWord(ip + 1)) * send_site::kSlots;
        isSuper = false;
        ip += 3;
        goto send;

        OP(Send) {
          site = regs_.sites + size_t(readWord(ip + 1)) * send_site::kSlots;
          isSuper = false;
          ip += 3;
          goto send;
        }
        OP(SuperSend) {
          site = regs_.sites + size_t(readWord(ip + 1)) * send_site::kSlots;
          isSuper = true;
          ip += 3;
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
          int64_t q = quick.smallInteger();
          switch (QuickMethod::kind(q)) {
            case QuickMethod::ReturnSelf:
              sp -= argc;
              break;
            case QuickMethod::ReturnField:
              *sp = sp[0].object()->slot(QuickMethod::field(q));
              break;
            case QuickMethod::SetField:
              space_.storePointer(sp[-1], QuickMethod::field(q), sp[0]);
              sp -= 1;
              break;
            case QuickMethod::ReturnNil:
              sp -= argc;
              *sp = nil_;
              break;
            case QuickMethod::ReturnTrue:
              sp -= argc;
              *sp = true_;
              break;
            case QuickMethod::ReturnFalse:
              sp -= argc;
              *sp = false_;
              break;
            case QuickMethod::None:
              break;
          }
          DISPATCH();
        }
        int64_t header = m->slot(code_slot::kHeader).smallInteger();
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
            DISPATCH();
          }
          method = m->asOop();  // the primitive failed: run the method's code
        }
        unsigned temps = CodeHeader::temps(header);
        if (sp + temps + CodeHeader::stack(header) + frame_slot::kFirstTemp + 2 >= regs_.limit) {
          SAVE();
          pushFrame(method, argc);
          LOAD();
          CHECK_STOP();
        } else {
          Oop* nfp = sp + 1;
          nfp[frame_slot::kMethod] = method;
          nfp[frame_slot::kCallerFp] = Oop::fromSmallInteger(fp - regs_.slots);
          nfp[frame_slot::kCallerIp] = Oop::fromSmallInteger(ip - regs_.code);
          nfp[frame_slot::kContext] = nil_;
          nfp[frame_slot::kSelf] = sp[-argc];
          Oop* t = nfp + frame_slot::kFirstTemp;
          for (unsigned i = 0; i < temps; i++) t[i] = nil_;
          sp = t + temps - 1;
          fp = nfp;
          regs_.code = m->slot(code_slot::kBytecodes).object()->bytes();
          regs_.literals = m->slot(code_slot::kLiterals).object()->slots();
          regs_.sites = m->slot(code_slot::kSendSites).object()->slots();
          ip = regs_.code;
        }
        if (interruptRequested_.load(std::memory_order_relaxed)) goto interrupt;
        DISPATCH();
      }

#define RETURN_FAST(value)                                                                                     \
  if (fp[frame_slot::kContext] == nil_ && fp[frame_slot::kCallerFp].smallInteger() != 0) {                     \
    Oop result_ = (value);                                                                                     \
    int n_ = int(CodeHeader::args(fp[frame_slot::kMethod].object()->slot(code_slot::kHeader).smallInteger())); \
    int64_t callerIp_ = fp[frame_slot::kCallerIp].smallInteger();                                              \
    sp = fp - n_ - 1;                                                                                          \
    *sp = result_;                                                                                             \
    fp = regs_.slots + fp[frame_slot::kCallerFp].smallInteger();                                               \
    HeapObject* m_ = fp[frame_slot::kMethod].object();                                                         \
    regs_.code = m_->slot(code_slot::kBytecodes).object()->bytes();                                            \
    regs_.literals = m_->slot(code_slot::kLiterals).object()->slots();                                         \
    regs_.sites = m_->slot(code_slot::kSendSites).object()->slots();                                           \
    ip = regs_.code + callerIp_;                                                                               \
    DISPATCH();                                                                                                \
  }
        OP(ReturnTop) {
          Oop result = *sp;
          RETURN_FAST(result)
          SAVE();
          returnFromFrame(fp, result);
          LOAD();
          CHECK_STOP();
          DISPATCH();
        }
        OP(ReturnSelf) {
          Oop result = SELF();
          RETURN_FAST(result)
          SAVE();
          returnFromFrame(fp, result);
          LOAD();
          CHECK_STOP();
          DISPATCH();
        }
        OP(BlockReturn) {
          Oop result = *sp;
          RETURN_FAST(result)
          SAVE();
          returnFromFrame(fp, result);
          LOAD();
          CHECK_STOP();
          DISPATCH();
        }
        OP(NonLocalReturn) {
          Oop result = *sp;
          ip += 1;
          SAVE();
          nonLocalReturn(result);
          LOAD();
          CHECK_STOP();
          DISPATCH();
        }
        OP(Jump) {
          ip += 3 + readWord(ip + 1);
          DISPATCH();
        }
        OP(JumpBack) {
          ip -= readWord(ip + 1) - 3;
          if (interruptRequested_.load(std::memory_order_relaxed)) goto interrupt;
          DISPATCH();
        }
        OP(JumpIfTrue) {
          Oop v = *sp;
          if (v == true_) {
            sp--;
            ip += 3 + readWord(ip + 1);
            DISPATCH();
          }
          if (v == false_) {
            sp--;
            ip += 3;
            DISPATCH();
          }
          goto not_boolean;
        }
        OP(JumpIfFalse) {
          Oop v = *sp;
          if (v == false_) {
            sp--;
            ip += 3 + readWord(ip + 1);
            DISPATCH();
          }
          if (v == true_) {
            sp--;
            ip += 3;
            DISPATCH();
          }
          goto not_boolean;
        }
        OP(JumpIfNil) {
          Oop v = *sp--;
          ip += v == nil_ ? 3 + readWord(ip + 1) : 3;
          DISPATCH();
        }
        OP(JumpIfNotNil) {
          Oop v = *sp--;
          ip += v != nil_ ? 3 + readWord(ip + 1) : 3;
          DISPATCH();
        }
        OP(UpdatePoint) {
          // The value (nil) is pushed first: a parked process resumes after this instruction.
          ip += 1;
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
  }
#undef SAVE
#undef LOAD
#undef SELF
#undef CHECK_STOP
#undef DISPATCH
#undef OP
}

}  // namespace vm
