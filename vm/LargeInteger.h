// LargeInteger: arbitrary-precision integers. SmallIntegers overflow into heap objects of
// the LargeInteger class (in the SOM kernel the same class, Integer): Format::Words with
// word 0 the sign (0 or 1) and the magnitude in 64-bit limbs, least significant first,
// always normalized (no leading zero limb, never a value that fits a SmallInteger).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "space/Oop.h"

namespace vm {

class Runtime;

namespace largeint {

// Floored division and modulo (Smalltalk // and \\), truncated remainder (rem:).
inline int64_t floorDivide(int64_t x, int64_t y) {
  int64_t q = x / y;
  if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
  return q;
}
inline int64_t floorModulo(int64_t x, int64_t y) {
  int64_t m = x % y;
  if (m != 0 && ((m < 0) != (y < 0))) m += y;
  return m;
}
// The same for Doubles, from the exact remainder fmod (x - floor(x / y) * y loses every
// digit once x / y is beyond 2^53, and answered 0.0 for 2^70 \\ 1.5).
// A zero remainder takes the divisor's sign, as a nonzero one does (-4 \\ 2.0 is 0.0, not
// the -0.0 that fmod answers).
inline double floorModulo(double x, double y) {
  double m = std::fmod(x, y);
  if (m == 0) return std::copysign(0.0, y);
  if ((m < 0) != (y < 0)) m += y;
  return m;
}

}  // namespace largeint

// A value type for arithmetic in C++ (32-bit limbs, sign and magnitude).
class BigInt {
 public:
  BigInt() = default;
  static BigInt fromInt64(int64_t v);
  static BigInt fromDouble(double d);  // truncates; d must be finite
  // Parses digits in `radix` (2..36), with an optional leading '-'. Empty on bad input
  // (checked before any arithmetic). Subquadratic (RadixConversion.cpp).
  static std::optional<BigInt> parse(const std::string& text, int radix);
  // Reads an Integer oop (SmallInteger or LargeInteger).
  static BigInt fromOop(const Runtime& rt, space::Oop o);
  // A SmallInteger when it fits, else a new LargeInteger. May collect.
  space::Oop toOop(Runtime& rt) const;

  bool isZero() const { return mag_.empty(); }
  bool isNegative() const { return negative_; }
  bool fitsInt64() const;
  int64_t toInt64() const;  // requires fitsInt64()
  double toDouble() const;
  // Digits in `radix` (2..36, upper-case letters), '-' first when negative. Subquadratic.
  std::string toString(int radix = 10) const;
  size_t bitLength() const;  // of the magnitude
  // The hash of a LargeInteger (also used for whole Doubles beyond SmallInteger range, so
  // that equal numbers hash alike). Non-negative, below 2^60.
  int64_t hash() const;

  friend BigInt operator+(const BigInt& a, const BigInt& b);
  friend BigInt operator-(const BigInt& a, const BigInt& b);
  friend BigInt operator*(const BigInt& a, const BigInt& b);
  BigInt operator-() const;
  // Floored (Smalltalk //, \\) and truncated (quo:, rem:) division; divisor non-zero.
  static void divideFloored(const BigInt& a, const BigInt& b, BigInt& q, BigInt& r);
  static void divideTruncated(const BigInt& a, const BigInt& b, BigInt& q, BigInt& r);
  static int compare(const BigInt& a, const BigInt& b);
  BigInt shiftLeft(size_t bits) const;
  BigInt shiftRight(size_t bits) const;  // arithmetic (floors for negatives)
  static BigInt bitAnd(const BigInt& a, const BigInt& b);
  static BigInt bitOr(const BigInt& a, const BigInt& b);
  static BigInt bitXor(const BigInt& a, const BigInt& b);
  BigInt abs() const {
    BigInt r = *this;
    r.negative_ = false;
    return r;
  }

 private:
  void normalize();
  static int compareMagnitude(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b);
  static std::vector<uint32_t> addMagnitude(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b);
  static std::vector<uint32_t> subMagnitude(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b);
  static void divideMagnitude(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b, std::vector<uint32_t>& q,
                              std::vector<uint32_t>& r);
  // Two's complement limbs of length n (for bitwise operations).
  std::vector<uint32_t> twosComplement(size_t n) const;
  static BigInt fromTwosComplement(std::vector<uint32_t> limbs);

  bool negative_ = false;
  std::vector<uint32_t> mag_;  // least significant first, no leading zeros
};

}  // namespace vm
