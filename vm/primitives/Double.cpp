// Double primitives: IEEE-754 doubles (boxed), mixed with Integers on the right.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "vm/LargeInteger.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {

// Shortest text that reads back as the same double ("0.5", "100.0", "1.0e+20").
std::string formatDouble(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  // Shortest round-trip digits; plain notation for exponents in [-4, 16), else scientific
  // (the same rule as Python's repr).
  char buf[400];
  auto sci = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string s(buf, sci.ptr);
  int exponent = std::atoi(s.c_str() + s.find('e') + 1);
  if (exponent >= -4 && exponent < 16) {
    auto fixed = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
    s.assign(buf, fixed.ptr);
  }
  // Keep a decimal point so the text reads as a Double.
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  size_t e = s.find('e');
  if (e != std::string::npos && s.find('.') == std::string::npos) s.insert(e, ".0");
  return s;
}

namespace prim {
namespace {

bool asDouble(Runtime& rt, Oop o, double& out) {
  if (o.isSmallInteger()) {
    out = double(o.smallInteger());
    return true;
  }
  if (isDouble(rt, o)) {
    out = doubleOf(o);
    return true;
  }
  if (isLargeInteger(rt, o)) {
    out = BigInt::fromOop(rt, o).toDouble();
    return true;
  }
  return false;
}

PrimitiveResult answerDouble(Interpreter& in, int argc, double d) {
  Oop r = newDouble(in.runtime(), d);
  return answer(in, argc, r);
}

template <class F>
PrimitiveResult binary(Interpreter& in, int argc, F f) {
  Runtime& rt = in.runtime();
  double x = doubleOf(receiver(in, argc)), y;
  if (!asDouble(rt, arg(in, argc, 0), y)) return kFail;
  return answerDouble(in, argc, f(x, y));
}

template <class F>
PrimitiveResult comparison(Interpreter& in, int argc, F f, bool onMismatch, bool failOnMismatch) {
  Runtime& rt = in.runtime();
  double x = doubleOf(receiver(in, argc)), y;
  if (!asDouble(rt, arg(in, argc, 0), y)) return failOnMismatch ? kFail : answerBool(in, argc, onMismatch);
  return answerBool(in, argc, f(x, y));
}

ESPELL_PRIMITIVE(dAdd) {
  return binary(in, argc, [](double x, double y) { return x + y; });
}
ESPELL_PRIMITIVE(dSub) {
  return binary(in, argc, [](double x, double y) { return x - y; });
}
ESPELL_PRIMITIVE(dMul) {
  return binary(in, argc, [](double x, double y) { return x * y; });
}
ESPELL_PRIMITIVE(dDiv) {
  return binary(in, argc, [](double x, double y) { return x / y; });
}
ESPELL_PRIMITIVE(dMod) {
  return binary(in, argc, [](double x, double y) { return x - std::floor(x / y) * y; });
}
ESPELL_PRIMITIVE(dRem) {
  return binary(in, argc, [](double x, double y) { return std::fmod(x, y); });
}
ESPELL_PRIMITIVE(dPow) {
  return binary(in, argc, [](double x, double y) { return std::pow(x, y); });
}
ESPELL_PRIMITIVE(dLt) {
  return comparison(
      in, argc, [](double x, double y) { return x < y; }, false, true);
}
ESPELL_PRIMITIVE(dGt) {
  return comparison(
      in, argc, [](double x, double y) { return x > y; }, false, true);
}
ESPELL_PRIMITIVE(dLe) {
  return comparison(
      in, argc, [](double x, double y) { return x <= y; }, false, true);
}
ESPELL_PRIMITIVE(dGe) {
  return comparison(
      in, argc, [](double x, double y) { return x >= y; }, false, true);
}
ESPELL_PRIMITIVE(dEq) {
  return comparison(
      in, argc, [](double x, double y) { return x == y; }, false, false);
}
ESPELL_PRIMITIVE(dNe) {
  return comparison(
      in, argc, [](double x, double y) { return x != y; }, true, false);
}

template <class F>
PrimitiveResult unary(Interpreter& in, int argc, F f) {
  return answerDouble(in, argc, f(doubleOf(receiver(in, argc))));
}
ESPELL_PRIMITIVE(dSqrt) {
  return unary(in, argc, [](double x) { return std::sqrt(x); });
}
ESPELL_PRIMITIVE(dSin) {
  return unary(in, argc, [](double x) { return std::sin(x); });
}
ESPELL_PRIMITIVE(dCos) {
  return unary(in, argc, [](double x) { return std::cos(x); });
}
ESPELL_PRIMITIVE(dTan) {
  return unary(in, argc, [](double x) { return std::tan(x); });
}
ESPELL_PRIMITIVE(dArcTan) {
  return unary(in, argc, [](double x) { return std::atan(x); });
}
ESPELL_PRIMITIVE(dExp) {
  return unary(in, argc, [](double x) { return std::exp(x); });
}
ESPELL_PRIMITIVE(dLn) {
  return unary(in, argc, [](double x) { return std::log(x); });
}
ESPELL_PRIMITIVE(dAbs) {
  return unary(in, argc, [](double x) { return std::fabs(x); });
}

PrimitiveResult answerIntegral(Interpreter& in, int argc, double d) {
  if (!std::isfinite(d)) return kFail;
  if (d >= -4.0e18 && d <= 4.0e18) return answerInt(in, argc, int64_t(d));
  Oop r = BigInt::fromDouble(d).toOop(in.runtime());
  return answer(in, argc, r);
}
ESPELL_PRIMITIVE(dRound) {
  return answerIntegral(in, argc, std::round(doubleOf(receiver(in, argc))));
}
ESPELL_PRIMITIVE(dTruncate) {
  return answerIntegral(in, argc, std::trunc(doubleOf(receiver(in, argc))));
}
ESPELL_PRIMITIVE(dFloor) {
  return answerIntegral(in, argc, std::floor(doubleOf(receiver(in, argc))));
}
ESPELL_PRIMITIVE(dCeiling) {
  return answerIntegral(in, argc, std::ceil(doubleOf(receiver(in, argc))));
}

ESPELL_PRIMITIVE(dAsString) {
  return answerString(in, argc, formatDouble(doubleOf(receiver(in, argc))));
}

ESPELL_PRIMITIVE(dHash) {
  double d = doubleOf(receiver(in, argc));
  // A whole Double equals the Integer of the same value: it must hash like it.
  if (d == std::trunc(d) && std::isfinite(d)) {
    if (std::fabs(d) < 4.0e18) return answerInt(in, argc, int64_t(d));
    return answerInt(in, argc, BigInt::fromDouble(d).hash());
  }
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return answerInt(in, argc, int64_t((bits ^ (bits >> 29)) & ((uint64_t(1) << 60) - 1)));
}

ESPELL_PRIMITIVE(dIsNaN) {
  return answerBool(in, argc, std::isnan(doubleOf(receiver(in, argc))));
}
ESPELL_PRIMITIVE(dIsInfinite) {
  return answerBool(in, argc, std::isinf(doubleOf(receiver(in, argc))));
}

ESPELL_PRIMITIVE(dPositiveInfinity) {
  return answerDouble(in, argc, HUGE_VAL);
}
ESPELL_PRIMITIVE(dNaN) {
  return answerDouble(in, argc, std::nan(""));
}

ESPELL_PRIMITIVE(dFromString) {
  Runtime& rt = in.runtime();
  Oop s = arg(in, argc, 0);
  if (!isString(rt, s)) return kFail;
  std::string text(bytesOf(s));
  char* end = nullptr;
  double d = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) return answer(in, argc, rt.nil());
  return answerDouble(in, argc, d);
}

}  // namespace
}  // namespace prim

void registerDoublePrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Double>>+", withReceiver<isDoubleObject, dAdd>);
  t.add("Double>>-", withReceiver<isDoubleObject, dSub>);
  t.add("Double>>*", withReceiver<isDoubleObject, dMul>);
  t.add("Double>>/", withReceiver<isDoubleObject, dDiv>);
  t.add("Double>>//", withReceiver<isDoubleObject, dDiv>);
  t.add("Double>>%", withReceiver<isDoubleObject, dRem>);  // SOM: the sign of the dividend
  t.add("Double>>\\\\", withReceiver<isDoubleObject, dMod>);
  t.add("Double>>rem:", withReceiver<isDoubleObject, dRem>);
  t.add("Double>>pow:", withReceiver<isDoubleObject, dPow>);
  t.add("Double>><", withReceiver<isDoubleObject, dLt>);
  t.add("Double>>>", withReceiver<isDoubleObject, dGt>);
  t.add("Double>><=", withReceiver<isDoubleObject, dLe>);
  t.add("Double>>>=", withReceiver<isDoubleObject, dGe>);
  t.add("Double>>=", withReceiver<isDoubleObject, dEq>);
  t.add("Double>><>", withReceiver<isDoubleObject, dNe>);
  t.add("Double>>~=", withReceiver<isDoubleObject, dNe>);
  t.add("Double>>sqrt", withReceiver<isDoubleObject, dSqrt>);
  t.add("Double>>sin", withReceiver<isDoubleObject, dSin>);
  t.add("Double>>cos", withReceiver<isDoubleObject, dCos>);
  t.add("Double>>tan", withReceiver<isDoubleObject, dTan>);
  t.add("Double>>arcTan", withReceiver<isDoubleObject, dArcTan>);
  t.add("Double>>exp", withReceiver<isDoubleObject, dExp>);
  t.add("Double>>ln", withReceiver<isDoubleObject, dLn>);
  t.add("Double>>abs", withReceiver<isDoubleObject, dAbs>);
  t.add("Double>>round", withReceiver<isDoubleObject, dRound>);
  t.add("Double>>asInteger", withReceiver<isDoubleObject, dTruncate>);
  t.add("Double>>truncated", withReceiver<isDoubleObject, dTruncate>);
  t.add("Double>>floor", withReceiver<isDoubleObject, dFloor>);
  t.add("Double>>ceiling", withReceiver<isDoubleObject, dCeiling>);
  t.add("Double>>asString", withReceiver<isDoubleObject, dAsString>);
  t.add("Double>>hashcode", withReceiver<isDoubleObject, dHash>);
  t.add("Double>>isNaN", withReceiver<isDoubleObject, dIsNaN>);
  t.add("Double>>isInfinite", withReceiver<isDoubleObject, dIsInfinite>);
  t.add("Double class>>PositiveInfinity", dPositiveInfinity);
  t.add("Double class>>NaN", dNaN);
  t.add("Double class>>fromString:", dFromString);
}

}  // namespace vm
