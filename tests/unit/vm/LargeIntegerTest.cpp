// BigInt: arithmetic against known values and identities; Karatsuba multiplication and
// the divide-and-conquer radix conversion against the simple quadratic algorithms.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "vm/LargeInteger.h"
#include "vm/LimbArithmetic.h"

using vm::BigInt;

namespace {
BigInt big(const char* s) {
  return BigInt::parse(s, 10).value();
}
}  // namespace

TEST_CASE("parse and print round-trip in several radixes") {
  const char* values[] = {"0",
                          "1",
                          "-1",
                          "4611686018427387904",
                          "-9223372036854775808",
                          "1267650600228229401496703205376",
                          "-340282366920938463463374607431768211456"};
  for (const char* v : values) CHECK(big(v).toString() == v);
  CHECK(BigInt::parse("ff", 16).value().toString() == "255");
  CHECK(big("255").toString(16) == "FF");
  CHECK_FALSE(BigInt::parse("12x", 10).has_value());
  CHECK_FALSE(BigInt::parse("", 10).has_value());
}

TEST_CASE("arithmetic matches known results") {
  CHECK((big("18446744073709551615") + big("1")).toString() == "18446744073709551616");
  CHECK((big("18446744073709551616") - big("1")).toString() == "18446744073709551615");
  CHECK((big("-5") - big("7")).toString() == "-12");
  CHECK((big("4294967296") * big("4294967296")).toString() == "18446744073709551616");
  CHECK((big("-123456789012345678901234567890") * big("987654321")).toString() ==
        "-121932631124828532112482853211126352690");
  BigInt f = BigInt::fromInt64(1);
  for (int i = 2; i <= 30; i++) f = f * BigInt::fromInt64(i);
  CHECK(f.toString() == "265252859812191058636308480000000");
}

TEST_CASE("division identities hold for floored and truncated division") {
  const char* as[] = {"123456789012345678901234567890", "-123456789012345678901234567890",        "7", "-7",
                      "18446744073709551616",           "340282366920938463463374607431768211457"};
  const char* bs[] = {"97", "-97", "4294967296", "-18446744073709551617", "3", "123456789123456789"};
  for (const char* a : as) {
    for (const char* b : bs) {
      BigInt x = big(a), y = big(b), q, r;
      BigInt::divideFloored(x, y, q, r);
      CHECK(BigInt::compare(q * y + r, x) == 0);
      CHECK((r.isZero() || r.isNegative() == y.isNegative()));
      CHECK(BigInt::compare(r.abs(), y.abs()) < 0);
      BigInt::divideTruncated(x, y, q, r);
      CHECK(BigInt::compare(q * y + r, x) == 0);
      CHECK((r.isZero() || r.isNegative() == x.isNegative()));
    }
  }
}

TEST_CASE("shifts and bitwise operations use two's complement semantics") {
  CHECK(BigInt::fromInt64(1).shiftLeft(100).shiftRight(99).toString() == "2");
  CHECK(BigInt::fromInt64(-1).shiftRight(5).toString() == "-1");
  CHECK(BigInt::fromInt64(-8).shiftRight(1).toString() == "-4");
  CHECK(BigInt::bitAnd(big("-1"), big("18446744073709551616")).toString() == "18446744073709551616");
  CHECK(BigInt::bitOr(big("-256"), big("255")).toString() == "-1");
  CHECK(BigInt::bitXor(big("18446744073709551615"), big("18446744073709551615")).toString() == "0");
}

// ---- Subquadratic multiplication and radix conversion against the simple algorithms ----

namespace {

// Random limbs below `base`, sometimes with runs of zeros or of the largest limb (the
// carries that Karatsuba's middle term and the folds must get right).
vm::Limbs randomLimbs(std::mt19937_64& rng, size_t n, uint64_t base) {
  vm::Limbs r(n);
  int style = int(rng() % 4);
  for (auto& limb : r) {
    uint64_t v = rng() % base;
    if (style == 1 && rng() % 3 == 0) v = 0;
    if (style == 2 && rng() % 2 == 0) v = base - 1;
    limb = uint32_t(v);
  }
  return r;
}

template <class Base>
void checkKaratsubaAgainstSchoolbook(Base base, std::mt19937_64& rng) {
  vm::LimbArithmetic<Base> arith(base);
  const size_t sizes[] = {0, 1, 2, 39, 40, 41, 63, 64, 65, 100, 129, 257, 600};
  int cases = 0;
  for (size_t n : sizes) {
    for (size_t m : sizes) {
      vm::Limbs a = randomLimbs(rng, n, base.value()), b = randomLimbs(rng, m, base.value());
      CHECK(arith.multiply(a, b) == arith.multiplySchoolbook(a, b));
      cases++;
    }
  }
  CHECK(cases == 169);
}

// r = r * radix + digit, one digit at a time with BigInt operations: the quadratic
// algorithm the divide-and-conquer parse replaced.
BigInt parseDigitByDigit(const std::string& digits, int radix) {
  BigInt r, scale = BigInt::fromInt64(radix);
  for (char c : digits.substr(digits[0] == '-' ? 1 : 0)) {
    int d = c <= '9' ? c - '0' : c - 'A' + 10;
    r = r * scale + BigInt::fromInt64(d);
  }
  return digits[0] == '-' ? -r : r;
}

// Digits by repeated division by the radix: the quadratic way of printing.
std::string printByDivision(BigInt x, int radix) {
  if (x.isZero()) return "0";
  bool negative = x.isNegative();
  x = x.abs();
  BigInt divisor = BigInt::fromInt64(radix), q, r;
  std::string out;
  while (!x.isZero()) {
    BigInt::divideTruncated(x, divisor, q, r);
    int64_t d = r.toInt64();
    out.push_back(char(d < 10 ? '0' + d : 'A' + d - 10));
    x = q;
  }
  if (negative) out.push_back('-');
  return std::string(out.rbegin(), out.rend());
}

std::string randomDigits(std::mt19937_64& rng, size_t n, int radix) {
  static const char* kDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string s;
  if (rng() % 2) s.push_back('-');
  s.push_back(kDigits[1 + rng() % uint64_t(radix - 1)]);  // no leading zero: printing drops them
  for (size_t i = 1; i < n; i++) s.push_back(kDigits[rng() % uint64_t(radix)]);
  return s;
}

}  // namespace

TEST_CASE("Karatsuba multiplication equals schoolbook multiplication in every base") {
  std::mt19937_64 rng(20240611);
  checkKaratsubaAgainstSchoolbook(vm::BinaryBase{}, rng);
  checkKaratsubaAgainstSchoolbook(vm::DecimalBase{}, rng);
  checkKaratsubaAgainstSchoolbook(vm::RuntimeBase{3486784401u}, rng);  // 3^20, the base of radix 3
  checkKaratsubaAgainstSchoolbook(vm::RuntimeBase{uint64_t(1) << 32}, rng);
}

TEST_CASE("decimal conversion equals the digit-by-digit algorithms on random numbers") {
  std::mt19937_64 rng(7);
  // Around the base case (32 limbs = 288 digits), around powers of two of limbs, and long.
  const size_t lengths[] = {1, 9, 10, 18, 19, 287, 288, 289, 577, 1000, 2305, 4609, 9000, 20000};
  for (size_t n : lengths) {
    for (int k = 0; k < 3; k++) {
      std::string digits = randomDigits(rng, n, 10);
      BigInt parsed = BigInt::parse(digits, 10).value();
      CHECK(BigInt::compare(parsed, parseDigitByDigit(digits, 10)) == 0);
      CHECK(parsed.toString() == digits);
      CHECK(printByDivision(parsed, 10) == digits);
    }
  }
}

TEST_CASE("conversion in other radixes equals the digit-by-digit algorithms") {
  std::mt19937_64 rng(11);
  int radixes = 0;
  for (int radix = 2; radix <= 36; radix++) {
    for (size_t n : {size_t(1), size_t(40), size_t(700), size_t(3000)}) {
      std::string digits = randomDigits(rng, n, radix);
      BigInt parsed = BigInt::parse(digits, radix).value();
      CHECK(BigInt::compare(parsed, parseDigitByDigit(digits, radix)) == 0);
      CHECK(parsed.toString(radix) == digits);
      CHECK(printByDivision(parsed, radix) == digits);
    }
    radixes++;
  }
  CHECK(radixes == 35);
}

TEST_CASE("parsing accepts leading zeros and refuses bad digits before any arithmetic") {
  CHECK(BigInt::parse("000000000000000000000000000000000000042", 10).value().toString() == "42");
  CHECK(BigInt::parse("-0", 10).value().toString() == "0");
  CHECK(BigInt::parse(std::string(5000, '0') + "1", 10).value().toString() == "1");
  CHECK_FALSE(BigInt::parse("-", 10).has_value());
  CHECK_FALSE(BigInt::parse("+5", 10).has_value());
  CHECK_FALSE(BigInt::parse(std::string(100000, '9') + "a", 10).has_value());
  CHECK_FALSE(BigInt::parse("12", 37).has_value());
  CHECK_FALSE(BigInt::parse("2", 2).has_value());
  // 10^k - 1 and 10^k: every group carries.
  for (size_t k : {size_t(288), size_t(4608)}) {
    std::string nines(k, '9');
    BigInt v = BigInt::parse(nines, 10).value();
    CHECK((v + BigInt::fromInt64(1)).toString() == "1" + std::string(k, '0'));
  }
}
