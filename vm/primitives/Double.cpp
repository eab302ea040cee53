// Double primitives: IEEE-754 doubles (boxed), mixed with Integers on the right.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "vm/LargeInteger.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {

// Shortest text that reads back as the same double ("0.5", "100.0", "1.0e20", "1.5e-7"):
// the form the compiler reads as a Double literal.
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
  if (e == std::string::npos) return s;
  if (s.find('.') == std::string::npos) {
    s.insert(e, ".0");
    e += 2;
  }
  // to_chars writes the exponent as e+20 or e-07: drop the '+' and the leading zeros.
  size_t digits = e + 1;
  if (s[digits] == '+') {
    s.erase(digits, 1);
  } else if (s[digits] == '-') {
    digits++;
  }
  while (digits + 1 < s.size() && s[digits] == '0') s.erase(digits, 1);
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

// The receiver is checked in each primitive (they may be bound in any subclass of Double,
// see Primitives.h): in these helpers, or with receiverValue.
bool receiverValue(Interpreter& in, int argc, double& x) {
  Oop r = receiver(in, argc);
  if (!isDoubleObject(in.runtime(), r)) return false;
  x = doubleOf(r);
  return true;
}

template <class F>
PrimitiveResult binary(Interpreter& in, int argc, F f) {
  Runtime& rt = in.runtime();
  double x, y;
  if (!receiverValue(in, argc, x)) return kFail;
  if (!asDouble(rt, arg(in, argc, 0), y)) return kFail;
  return answerDouble(in, argc, f(x, y));
}

template <class F>
PrimitiveResult comparison(Interpreter& in, int argc, F f, bool onMismatch, bool failOnMismatch) {
  Runtime& rt = in.runtime();
  double x, y;
  if (!receiverValue(in, argc, x)) return kFail;
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
  return binary(in, argc, [](double x, double y) { return largeint::floorModulo(x, y); });
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
  double x;
  if (!receiverValue(in, argc, x)) return kFail;
  return answerDouble(in, argc, f(x));
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
  double x;
  if (!receiverValue(in, argc, x)) return kFail;
  return answerIntegral(in, argc, std::round(x));
}
ESPELL_PRIMITIVE(dTruncate) {
  double x;
  if (!receiverValue(in, argc, x)) return kFail;
  return answerIntegral(in, argc, std::trunc(x));
}
ESPELL_PRIMITIVE(dFloor) {
  double x;
  if (!receiverValue(in, argc, x)) return kFail;
  return answerIntegral(in, argc, std::floor(x));
}
ESPELL_PRIMITIVE(dCeiling) {
  double x;
  if (!receiverValue(in, argc, x)) return kFail;
  return answerIntegral(in, argc, std::ceil(x));
}

ESPELL_PRIMITIVE(dAsString) {
  double x;
  if (!receiverValue(in, argc, x)) return kFail;
  return answerString(in, argc, formatDouble(x));
}

ESPELL_PRIMITIVE(dHash) {
  double d;
  if (!receiverValue(in, argc, d)) return kFail;
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
  double x;
  if (!receiverValue(in, argc, x)) return kFail;
  return answerBool(in, argc, std::isnan(x));
}
ESPELL_PRIMITIVE(dIsInfinite) {
  double x;
  if (!receiverValue(in, argc, x)) return kFail;
  return answerBool(in, argc, std::isinf(x));
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
  // The whole text, whitespace around it aside, must be a decimal number (digits, '.',
  // sign, exponent): strtod alone would take a prefix, hex floats, "inf" and "nan".
  std::string text(bytesOf(s));
  size_t first = text.find_first_not_of(" \t\r\n\f\v"), last = text.find_last_not_of(" \t\r\n\f\v");
  if (first == std::string::npos) return kFail;
  text = text.substr(first, last - first + 1);
  if (text.find_first_not_of("0123456789.eE+-") != std::string::npos) return kFail;
  char* end = nullptr;
  double d = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || text.find_first_of("0123456789") == std::string::npos) return kFail;
  return answerDouble(in, argc, d);
}

}  // namespace
}  // namespace prim

void registerDoublePrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Double>>+", dAdd);
  t.add("Double>>-", dSub);
  t.add("Double>>*", dMul);
  t.add("Double>>/", dDiv);
  t.add("Double>>//", dDiv);
  t.add("Double>>%", dRem);  // SOM: the sign of the dividend
  t.add("Double>>\\\\", dMod);
  t.add("Double>>rem:", dRem);
  t.add("Double>>pow:", dPow);
  t.add("Double>><", dLt);
  t.add("Double>>>", dGt);
  t.add("Double>><=", dLe);
  t.add("Double>>>=", dGe);
  t.add("Double>>=", dEq);
  t.add("Double>><>", dNe);
  t.add("Double>>~=", dNe);
  t.add("Double>>sqrt", dSqrt);
  t.add("Double>>sin", dSin);
  t.add("Double>>cos", dCos);
  t.add("Double>>tan", dTan);
  t.add("Double>>arcTan", dArcTan);
  t.add("Double>>exp", dExp);
  t.add("Double>>ln", dLn);
  t.add("Double>>abs", dAbs);
  t.add("Double>>round", dRound);
  t.add("Double>>asInteger", dTruncate);
  t.add("Double>>truncated", dTruncate);
  t.add("Double>>floor", dFloor);
  t.add("Double>>ceiling", dCeiling);
  t.add("Double>>asString", dAsString);
  t.add("Double>>hashcode", dHash);
  t.add("Double>>isNaN", dIsNaN);
  t.add("Double>>isInfinite", dIsInfinite);
  t.add("Double class>>PositiveInfinity", dPositiveInfinity);
  t.add("Double class>>NaN", dNaN);
  t.add("Double class>>fromString:", dFromString);
}

}  // namespace vm
