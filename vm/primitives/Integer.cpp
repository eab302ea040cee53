// Integer primitives: arithmetic on SmallIntegers with overflow into LargeIntegers, mixed
// arithmetic with Doubles, bit operations, conversions. Any other argument fails, so the
// kernel method's Smalltalk code (coercion or error) runs.
#include <cmath>
#include <random>

#include "vm/LargeInteger.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

bool isInteger(Runtime& rt, Oop o) {
  return o.isSmallInteger() || isLargeInteger(rt, o);
}

PrimitiveResult answerBig(Interpreter& in, int argc, const BigInt& v) {
  Oop r = v.toOop(in.runtime());
  return answer(in, argc, r);
}

PrimitiveResult answerDouble(Interpreter& in, int argc, double d) {
  Oop r = newDouble(in.runtime(), d);
  return answer(in, argc, r);
}

double toDouble(Runtime& rt, Oop o) {
  if (o.isSmallInteger()) return double(o.smallInteger());
  if (isDouble(rt, o)) return doubleOf(o);
  return BigInt::fromOop(rt, o).toDouble();
}

enum class Arith { Add, Sub, Mul };

PrimitiveResult arith(Interpreter& in, int argc, Arith op) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  if (a.isSmallInteger() && b.isSmallInteger()) {
    int64_t x = a.smallInteger(), y = b.smallInteger(), r;
    bool overflow = op == Arith::Add   ? __builtin_add_overflow(x, y, &r)
                    : op == Arith::Sub ? __builtin_sub_overflow(x, y, &r)
                                       : __builtin_mul_overflow(x, y, &r);
    if (!overflow && Oop::fitsSmallInteger(r)) return answer(in, argc, Oop::fromSmallInteger(r));
  }
  if (isDouble(rt, b)) {
    double x = toDouble(rt, a), y = doubleOf(b);
    return answerDouble(in, argc, op == Arith::Add ? x + y : op == Arith::Sub ? x - y : x * y);
  }
  if (!isInteger(rt, b) || !isInteger(rt, a)) return kFail;
  BigInt x = BigInt::fromOop(rt, a), y = BigInt::fromOop(rt, b);
  return answerBig(in, argc, op == Arith::Add ? x + y : op == Arith::Sub ? x - y : x * y);
}

ESPELL_PRIMITIVE(intAdd) {
  return arith(in, argc, Arith::Add);
}
ESPELL_PRIMITIVE(intSub) {
  return arith(in, argc, Arith::Sub);
}
ESPELL_PRIMITIVE(intMul) {
  return arith(in, argc, Arith::Mul);
}

enum class Div { Floor, Modulo, Quo, Rem };

PrimitiveResult divide(Interpreter& in, int argc, Div kind) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  if (isDouble(rt, b)) {
    double x = toDouble(rt, a), y = doubleOf(b);
    if (y == 0) return kFail;
    switch (kind) {
      case Div::Floor:
        return answerDouble(in, argc, x / y);
      case Div::Modulo:
        return answerDouble(in, argc, largeint::floorModulo(x, y));
      case Div::Quo:
        return answerDouble(in, argc, std::trunc(x / y));
      case Div::Rem:
        return answerDouble(in, argc, std::fmod(x, y));
    }
  }
  if (!isInteger(rt, a) || !isInteger(rt, b)) return kFail;
  if (b.isSmallInteger() && b.smallInteger() == 0) return kFail;  // ZeroDivide in Smalltalk
  if (a.isSmallInteger() && b.isSmallInteger()) {
    int64_t x = a.smallInteger(), y = b.smallInteger();
    if (!(x == Oop::kSmallIntegerMin && y == -1)) {
      switch (kind) {
        case Div::Floor:
          return answerInt(in, argc, largeint::floorDivide(x, y));
        case Div::Modulo:
          return answerInt(in, argc, largeint::floorModulo(x, y));
        case Div::Quo:
          return answerInt(in, argc, x / y);
        case Div::Rem:
          return answerInt(in, argc, x % y);
      }
    }
  }
  BigInt x = BigInt::fromOop(rt, a), y = BigInt::fromOop(rt, b), q, r;
  if (kind == Div::Floor || kind == Div::Modulo) {
    BigInt::divideFloored(x, y, q, r);
  } else {
    BigInt::divideTruncated(x, y, q, r);
  }
  return answerBig(in, argc, (kind == Div::Floor || kind == Div::Quo) ? q : r);
}

ESPELL_PRIMITIVE(intDivide) {
  return divide(in, argc, Div::Floor);
}
ESPELL_PRIMITIVE(intModulo) {
  return divide(in, argc, Div::Modulo);
}
ESPELL_PRIMITIVE(intQuo) {
  return divide(in, argc, Div::Quo);
}
ESPELL_PRIMITIVE(intRem) {
  return divide(in, argc, Div::Rem);
}

// SOM's // on integers divides as Doubles.
ESPELL_PRIMITIVE(intDoubleDivide) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  if (!isInteger(rt, b) && !isDouble(rt, b)) return kFail;
  double y = toDouble(rt, b);
  if (y == 0) return kFail;
  return answerDouble(in, argc, toDouble(rt, a) / y);
}

enum class Cmp { Lt, Gt, Le, Ge, Eq, Ne };

PrimitiveResult compare(Interpreter& in, int argc, Cmp op) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  int c;
  if (a.isSmallInteger() && b.isSmallInteger()) {
    c = a.smallInteger() < b.smallInteger() ? -1 : a.smallInteger() > b.smallInteger() ? 1 : 0;
  } else if (isDouble(rt, b)) {
    double x = toDouble(rt, a), y = doubleOf(b);
    if (std::isnan(y)) return answerBool(in, argc, op == Cmp::Ne);
    c = x < y ? -1 : x > y ? 1 : 0;
  } else if (isInteger(rt, b)) {
    c = BigInt::compare(BigInt::fromOop(rt, a), BigInt::fromOop(rt, b));
  } else if (op == Cmp::Eq || op == Cmp::Ne) {
    return answerBool(in, argc, op == Cmp::Ne);
  } else {
    return kFail;
  }
  bool r = false;
  switch (op) {
    case Cmp::Lt:
      r = c < 0;
      break;
    case Cmp::Gt:
      r = c > 0;
      break;
    case Cmp::Le:
      r = c <= 0;
      break;
    case Cmp::Ge:
      r = c >= 0;
      break;
    case Cmp::Eq:
      r = c == 0;
      break;
    case Cmp::Ne:
      r = c != 0;
      break;
  }
  return answerBool(in, argc, r);
}

ESPELL_PRIMITIVE(intLt) {
  return compare(in, argc, Cmp::Lt);
}
ESPELL_PRIMITIVE(intGt) {
  return compare(in, argc, Cmp::Gt);
}
ESPELL_PRIMITIVE(intLe) {
  return compare(in, argc, Cmp::Le);
}
ESPELL_PRIMITIVE(intGe) {
  return compare(in, argc, Cmp::Ge);
}
ESPELL_PRIMITIVE(intEq) {
  return compare(in, argc, Cmp::Eq);
}
ESPELL_PRIMITIVE(intNe) {
  return compare(in, argc, Cmp::Ne);
}

enum class Bits { And, Or, Xor };

PrimitiveResult bits(Interpreter& in, int argc, Bits op) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  if (a.isSmallInteger() && b.isSmallInteger()) {
    int64_t x = a.smallInteger(), y = b.smallInteger();
    return answerInt(in, argc, op == Bits::And ? (x & y) : op == Bits::Or ? (x | y) : (x ^ y));
  }
  if (!isInteger(rt, a) || !isInteger(rt, b)) return kFail;
  BigInt x = BigInt::fromOop(rt, a), y = BigInt::fromOop(rt, b);
  return answerBig(in, argc,
                   op == Bits::And  ? BigInt::bitAnd(x, y)
                   : op == Bits::Or ? BigInt::bitOr(x, y)
                                    : BigInt::bitXor(x, y));
}

ESPELL_PRIMITIVE(intBitAnd) {
  return bits(in, argc, Bits::And);
}
ESPELL_PRIMITIVE(intBitOr) {
  return bits(in, argc, Bits::Or);
}
ESPELL_PRIMITIVE(intBitXor) {
  return bits(in, argc, Bits::Xor);
}

// The most bits a shift moves: the result of 1 << kMaxShift is already a 2 MiB integer.
// Integer>>arithmeticFailed:with: states it in its error.
constexpr int64_t kMaxShift = int64_t(1) << 24;

ESPELL_PRIMITIVE(intShiftLeft) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  if (!isInteger(rt, a) || !b.isSmallInteger()) return kFail;
  int64_t n = b.smallInteger();
  if (n < 0 || n > kMaxShift) return kFail;  // a negative shift is an error, not the other way
  BigInt x = BigInt::fromOop(rt, a);
  return answerBig(in, argc, x.shiftLeft(size_t(n)));
}

ESPELL_PRIMITIVE(intShiftRight) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  if (!isInteger(rt, a) || !b.isSmallInteger()) return kFail;
  int64_t n = b.smallInteger();
  if (n < 0) return kFail;
  if (a.isSmallInteger()) {  // arithmetic: rounds towards negative infinity
    int64_t x = a.smallInteger();
    return answerInt(in, argc, n >= 63 ? (x < 0 ? -1 : 0) : x >> n);
  }
  return answerBig(in, argc, BigInt::fromOop(rt, a).shiftRight(size_t(n)));
}

ESPELL_PRIMITIVE(intSqrt) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc);
  double d = toDouble(rt, a);
  if (d < 0) return answerDouble(in, argc, std::sqrt(d));
  double s = std::sqrt(d);
  if (a.isSmallInteger()) {
    int64_t r = int64_t(s);
    while (r * r > a.smallInteger()) r--;
    while ((r + 1) * (r + 1) <= a.smallInteger()) r++;
    if (r * r == a.smallInteger()) return answerInt(in, argc, r);
  }
  return answerDouble(in, argc, s);
}

ESPELL_PRIMITIVE(intAsString) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc);
  if (a.isSmallInteger()) return answerString(in, argc, std::to_string(a.smallInteger()));
  return answerString(in, argc, BigInt::fromOop(rt, a).toString());
}

ESPELL_PRIMITIVE(intPrintStringRadix) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  if (!b.isSmallInteger() || b.smallInteger() < 2 || b.smallInteger() > 36) return kFail;
  return answerString(in, argc, BigInt::fromOop(rt, a).toString(int(b.smallInteger())));
}

ESPELL_PRIMITIVE(intAsDouble) {
  return answerDouble(in, argc, toDouble(in.runtime(), receiver(in, argc)));
}

ESPELL_PRIMITIVE(intAs32BitSigned) {
  Oop a = receiver(in, argc);
  int64_t v = a.isSmallInteger()
                  ? a.smallInteger()
                  : BigInt::bitAnd(BigInt::fromOop(in.runtime(), a), BigInt::fromInt64(0xFFFFFFFF)).toInt64();
  return answerInt(in, argc, int64_t(int32_t(uint32_t(uint64_t(v)))));
}

ESPELL_PRIMITIVE(intAs32BitUnsigned) {
  Oop a = receiver(in, argc);
  int64_t v = a.isSmallInteger()
                  ? a.smallInteger()
                  : BigInt::bitAnd(BigInt::fromOop(in.runtime(), a), BigInt::fromInt64(0xFFFFFFFF)).toInt64();
  return answerInt(in, argc, int64_t(uint32_t(uint64_t(v))));
}

ESPELL_PRIMITIVE(intAtRandom) {
  Oop a = receiver(in, argc);
  if (!a.isSmallInteger() || a.smallInteger() < 1) return kFail;
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return answerInt(in, argc, int64_t(rng() % uint64_t(a.smallInteger())) + 1);
}

ESPELL_PRIMITIVE(intHash) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc);
  if (a.isSmallInteger()) return answer(in, argc, a);
  return answerInt(in, argc, BigInt::fromOop(rt, a).hash());
}

ESPELL_PRIMITIVE(intFromString) {
  Runtime& rt = in.runtime();
  Oop s = arg(in, argc, 0);
  if (!isString(rt, s)) return kFail;
  std::string text(bytesOf(s));
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) start++;
  std::optional<BigInt> v = BigInt::parse(text.substr(start), 10);
  if (!v) return kFail;  // not an integer: the Smalltalk fallback signals ArgumentError
  return answerBig(in, argc, *v);
}

ESPELL_PRIMITIVE(intFromStringRadix) {
  Runtime& rt = in.runtime();
  Oop s = arg(in, argc, 0), r = arg(in, argc, 1);
  if (!isString(rt, s) || !r.isSmallInteger()) return kFail;
  if (r.smallInteger() < 2 || r.smallInteger() > 36) return kFail;
  std::optional<BigInt> v = BigInt::parse(std::string(bytesOf(s)), int(r.smallInteger()));
  if (!v) return kFail;
  return answerBig(in, argc, *v);
}

}  // namespace
}  // namespace prim

void registerIntegerPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Integer>>+", withReceiver<isIntegerObject, intAdd>);
  t.add("Integer>>-", withReceiver<isIntegerObject, intSub>);
  t.add("Integer>>*", withReceiver<isIntegerObject, intMul>);
  t.add("Integer>>/", withReceiver<isIntegerObject, intDivide>);
  t.add("Integer>>//", withReceiver<isIntegerObject, intDoubleDivide>);
  t.add("Integer>>%", withReceiver<isIntegerObject, intModulo>);
  t.add("Integer>>\\\\", withReceiver<isIntegerObject, intModulo>);
  t.add("Integer>>quo:", withReceiver<isIntegerObject, intQuo>);
  t.add("Integer>>rem:", withReceiver<isIntegerObject, intRem>);
  t.add("Integer>><", withReceiver<isIntegerObject, intLt>);
  t.add("Integer>>>", withReceiver<isIntegerObject, intGt>);
  t.add("Integer>><=", withReceiver<isIntegerObject, intLe>);
  t.add("Integer>>>=", withReceiver<isIntegerObject, intGe>);
  t.add("Integer>>=", withReceiver<isIntegerObject, intEq>);
  t.add("Integer>>~=", withReceiver<isIntegerObject, intNe>);
  t.add("Integer>><>", withReceiver<isIntegerObject, intNe>);
  t.add("Integer>>&", withReceiver<isIntegerObject, intBitAnd>);
  t.add("Integer>>bitAnd:", withReceiver<isIntegerObject, intBitAnd>);
  t.add("Integer>>bitOr:", withReceiver<isIntegerObject, intBitOr>);
  t.add("Integer>>bitXor:", withReceiver<isIntegerObject, intBitXor>);
  t.add("Integer>><<", withReceiver<isIntegerObject, intShiftLeft>);
  t.add("Integer>>>>", withReceiver<isIntegerObject, intShiftRight>);
  // Integers are unbounded: >>> has no word width to shift zeros into, so it is >>.
  t.add("Integer>>>>>", withReceiver<isIntegerObject, intShiftRight>);
  t.add("Integer>>sqrt", withReceiver<isIntegerObject, intSqrt>);
  t.add("Integer>>asString", withReceiver<isIntegerObject, intAsString>);
  t.add("Integer>>printString:", withReceiver<isIntegerObject, intPrintStringRadix>);
  t.add("Integer>>asDouble", withReceiver<isIntegerObject, intAsDouble>);
  t.add("Integer>>as32BitSignedValue", withReceiver<isIntegerObject, intAs32BitSigned>);
  t.add("Integer>>as32BitUnsignedValue", withReceiver<isIntegerObject, intAs32BitUnsigned>);
  t.add("Integer>>atRandom", withReceiver<isIntegerObject, intAtRandom>);
  t.add("Integer>>hashcode", withReceiver<isIntegerObject, intHash>);
  t.add("Integer class>>fromString:", intFromString);
  t.add("Integer class>>fromString:radix:", intFromStringRadix);
}

}  // namespace vm
