// BigInt: arithmetic against known values and identities.
#include <doctest/doctest.h>

#include "vm/LargeInteger.h"

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
