// LargeInteger: arithmetic on 32-bit limbs: schoolbook addition and subtraction,
// Karatsuba multiplication for long operands (LimbArithmetic.h), Knuth's algorithm D for
// division (quadratic). Conversion from and to digit strings is in RadixConversion.cpp.
#include "vm/LargeInteger.h"

#include <algorithm>
#include <cmath>

#include "vm/LimbArithmetic.h"
#include "vm/LongOperation.h"
#include "vm/Objects.h"
#include "vm/Runtime.h"

namespace vm {

using space::Oop;

void BigInt::normalize() {
  while (!mag_.empty() && mag_.back() == 0) mag_.pop_back();
  if (mag_.empty()) negative_ = false;
}

BigInt BigInt::fromInt64(int64_t v) {
  BigInt r;
  r.negative_ = v < 0;
  uint64_t m = v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v);
  while (m) {
    r.mag_.push_back(uint32_t(m));
    m >>= 32;
  }
  return r;
}

BigInt BigInt::fromDouble(double d) {
  BigInt r;
  d = std::trunc(d);
  r.negative_ = d < 0;
  d = std::fabs(d);
  std::vector<uint32_t> limbs;
  while (d >= 1) {
    double q = std::floor(d / 4294967296.0);
    limbs.push_back(uint32_t(d - q * 4294967296.0));
    d = q;
  }
  r.mag_ = limbs;
  r.normalize();
  return r;
}

BigInt BigInt::fromOop(const Runtime& rt, Oop o) {
  if (o.isSmallInteger()) return fromInt64(o.smallInteger());
  BigInt r;
  const uint64_t* w = o.object()->words();
  size_t n = o.object()->slotCount();
  r.negative_ = n > 0 && w[0] != 0;
  for (size_t i = 1; i < n; i++) {
    r.mag_.push_back(uint32_t(w[i]));
    r.mag_.push_back(uint32_t(w[i] >> 32));
  }
  r.normalize();
  (void)rt;
  return r;
}

bool BigInt::fitsInt64() const {
  if (mag_.size() > 2) return false;
  uint64_t m = 0;
  for (size_t i = mag_.size(); i-- > 0;) m = (m << 32) | mag_[i];
  return negative_ ? m <= uint64_t(1) << 63 : m < uint64_t(1) << 63;
}

int64_t BigInt::toInt64() const {
  uint64_t m = 0;
  for (size_t i = mag_.size(); i-- > 0;) m = (m << 32) | mag_[i];
  return negative_ ? int64_t(uint64_t(0) - m) : int64_t(m);
}

Oop BigInt::toOop(Runtime& rt) const {
  if (fitsInt64()) {
    int64_t v = toInt64();
    if (Oop::fitsSmallInteger(v)) return Oop::fromSmallInteger(v);
  }
  size_t limbs64 = (mag_.size() + 1) / 2;
  Oop o = rt.space().allocateWords(rt.known.largeInteger, 1 + limbs64);
  uint64_t* w = o.object()->words();
  w[0] = negative_ ? 1 : 0;
  for (size_t i = 0; i < limbs64; i++) {
    uint64_t lo = mag_[2 * i];
    uint64_t hi = 2 * i + 1 < mag_.size() ? mag_[2 * i + 1] : 0;
    w[1 + i] = lo | (hi << 32);
  }
  return o;
}

double BigInt::toDouble() const {
  double d = 0;
  for (size_t i = mag_.size(); i-- > 0;) d = d * 4294967296.0 + double(mag_[i]);
  return negative_ ? -d : d;
}

int64_t BigInt::hash() const {
  uint64_t h = negative_ ? 1 : 0;
  for (uint32_t limb : mag_) h = h * 1000003u + limb;
  return int64_t(h & ((uint64_t(1) << 60) - 1));
}

size_t BigInt::bitLength() const {
  if (mag_.empty()) return 0;
  return (mag_.size() - 1) * 32 + size_t(32 - __builtin_clz(mag_.back()));
}

int BigInt::compareMagnitude(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  for (size_t i = a.size(); i-- > 0;) {
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

std::vector<uint32_t> BigInt::addMagnitude(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> r(std::max(a.size(), b.size()) + 1);
  uint64_t carry = 0;
  for (size_t i = 0; i < r.size(); i++) {
    uint64_t v = carry + (i < a.size() ? a[i] : 0) + (i < b.size() ? b[i] : 0);
    r[i] = uint32_t(v);
    carry = v >> 32;
  }
  return r;
}

// a - b with |a| >= |b|.
std::vector<uint32_t> BigInt::subMagnitude(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  std::vector<uint32_t> r(a.size());
  int64_t borrow = 0;
  for (size_t i = 0; i < a.size(); i++) {
    int64_t v = int64_t(a[i]) - (i < b.size() ? int64_t(b[i]) : 0) - borrow;
    borrow = v < 0 ? 1 : 0;
    r[i] = uint32_t(v + (borrow << 32));
  }
  return r;
}

BigInt operator+(const BigInt& a, const BigInt& b) {
  BigInt r;
  if (a.negative_ == b.negative_) {
    r.mag_ = BigInt::addMagnitude(a.mag_, b.mag_);
    r.negative_ = a.negative_;
  } else if (BigInt::compareMagnitude(a.mag_, b.mag_) >= 0) {
    r.mag_ = BigInt::subMagnitude(a.mag_, b.mag_);
    r.negative_ = a.negative_;
  } else {
    r.mag_ = BigInt::subMagnitude(b.mag_, a.mag_);
    r.negative_ = b.negative_;
  }
  r.normalize();
  return r;
}

BigInt BigInt::operator-() const {
  BigInt r = *this;
  if (!r.mag_.empty()) r.negative_ = !r.negative_;
  return r;
}

BigInt operator-(const BigInt& a, const BigInt& b) {
  return a + (-b);
}

BigInt operator*(const BigInt& a, const BigInt& b) {
  BigInt r;
  r.mag_ = LimbArithmetic<BinaryBase>().multiply(a.mag_, b.mag_);
  r.negative_ = a.negative_ != b.negative_;
  r.normalize();
  return r;
}

void BigInt::divideMagnitude(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b, std::vector<uint32_t>& q,
                             std::vector<uint32_t>& r) {
  if (compareMagnitude(a, b) < 0) {
    q.clear();
    r = a;
    return;
  }
  if (b.size() == 1) {
    q.assign(a.size(), 0);
    uint64_t rem = 0;
    for (size_t i = a.size(); i-- > 0;) {
      uint64_t cur = (rem << 32) | a[i];
      q[i] = uint32_t(cur / b[0]);
      rem = cur % b[0];
    }
    r.assign(1, uint32_t(rem));
    return;
  }
  // Knuth D: normalize so the divisor's top limb has its high bit set.
  int shift = __builtin_clz(b.back());
  std::vector<uint32_t> u(a.size() + 1, 0), v(b.size(), 0);
  for (size_t i = 0; i < b.size(); i++) {
    v[i] = (b[i] << shift) | (shift && i > 0 ? b[i - 1] >> (32 - shift) : 0);
  }
  for (size_t i = 0; i < a.size(); i++) {
    u[i] = (a[i] << shift) | (shift && i > 0 ? a[i - 1] >> (32 - shift) : 0);
  }
  u[a.size()] = shift ? a.back() >> (32 - shift) : 0;
  size_t n = v.size(), m = a.size() - n;
  q.assign(m + 1, 0);
  for (size_t j = m + 1; j-- > 0;) {
    if (n >= LongOperation::kLimbs && (j & 63) == 0) LongOperation::poll();  // each step is O(n)
    uint64_t num = (uint64_t(u[j + n]) << 32) | u[j + n - 1];
    uint64_t qhat = num / v[n - 1];
    uint64_t rhat = num % v[n - 1];
    while (qhat > 0xFFFFFFFFu || qhat * v[n - 2] > ((rhat << 32) | u[j + n - 2])) {
      qhat--;
      rhat += v[n - 1];
      if (rhat > 0xFFFFFFFFu) break;
    }
    int64_t borrow = 0;
    uint64_t carry = 0;
    for (size_t i = 0; i < n; i++) {
      uint64_t p = qhat * v[i] + carry;
      carry = p >> 32;
      int64_t t = int64_t(u[i + j]) - int64_t(uint32_t(p)) - borrow;
      borrow = t < 0 ? 1 : 0;
      u[i + j] = uint32_t(t + (borrow << 32));
    }
    int64_t t = int64_t(u[j + n]) - int64_t(carry) - borrow;
    borrow = t < 0 ? 1 : 0;
    u[j + n] = uint32_t(t + (borrow << 32));
    if (borrow) {
      qhat--;
      uint64_t c = 0;
      for (size_t i = 0; i < n; i++) {
        uint64_t s = uint64_t(u[i + j]) + v[i] + c;
        u[i + j] = uint32_t(s);
        c = s >> 32;
      }
      u[j + n] += uint32_t(c);
    }
    q[j] = uint32_t(qhat);
  }
  r.assign(n, 0);
  for (size_t i = 0; i < n; i++) {
    r[i] = (u[i] >> shift) | (shift && i + 1 < u.size() ? u[i + 1] << (32 - shift) : 0);
  }
}

void BigInt::divideTruncated(const BigInt& a, const BigInt& b, BigInt& q, BigInt& r) {
  divideMagnitude(a.mag_, b.mag_, q.mag_, r.mag_);
  q.negative_ = a.negative_ != b.negative_;
  r.negative_ = a.negative_;
  q.normalize();
  r.normalize();
}

void BigInt::divideFloored(const BigInt& a, const BigInt& b, BigInt& q, BigInt& r) {
  divideTruncated(a, b, q, r);
  if (!r.isZero() && (r.negative_ != b.negative_)) {
    q = q - fromInt64(1);
    r = r + b;
  }
}

int BigInt::compare(const BigInt& a, const BigInt& b) {
  if (a.negative_ != b.negative_) return a.negative_ ? -1 : 1;
  int c = compareMagnitude(a.mag_, b.mag_);
  return a.negative_ ? -c : c;
}

BigInt BigInt::shiftLeft(size_t bits) const {
  if (mag_.empty()) return *this;
  BigInt r;
  r.negative_ = negative_;
  size_t limbs = bits / 32, rest = bits % 32;
  r.mag_.assign(limbs, 0);
  uint32_t carry = 0;
  for (uint32_t limb : mag_) {
    r.mag_.push_back(rest ? (limb << rest) | carry : limb);
    carry = rest ? limb >> (32 - rest) : 0;
  }
  if (carry) r.mag_.push_back(carry);
  r.normalize();
  return r;
}

BigInt BigInt::shiftRight(size_t bits) const {
  if (negative_) {
    // Floor semantics: -((|x| - 1) >> n) - 1
    BigInt m = abs() - fromInt64(1);
    return -(m.shiftRight(bits)) - fromInt64(1);
  }
  BigInt r;
  size_t limbs = bits / 32, rest = bits % 32;
  if (limbs >= mag_.size()) return r;
  for (size_t i = limbs; i < mag_.size(); i++) {
    uint32_t lo = mag_[i] >> rest;
    uint32_t hi = (rest && i + 1 < mag_.size()) ? mag_[i + 1] << (32 - rest) : 0;
    r.mag_.push_back(lo | hi);
  }
  r.normalize();
  return r;
}

std::vector<uint32_t> BigInt::twosComplement(size_t n) const {
  std::vector<uint32_t> limbs(n, 0);
  for (size_t i = 0; i < mag_.size() && i < n; i++) limbs[i] = mag_[i];
  if (negative_) {
    uint64_t carry = 1;
    for (uint32_t& l : limbs) {
      uint64_t v = uint64_t(uint32_t(~l)) + carry;
      l = uint32_t(v);
      carry = v >> 32;
    }
  }
  return limbs;
}

BigInt BigInt::fromTwosComplement(std::vector<uint32_t> limbs) {
  BigInt r;
  bool neg = !limbs.empty() && (limbs.back() & 0x80000000u);
  if (neg) {
    uint64_t carry = 1;
    for (uint32_t& l : limbs) {
      uint64_t v = uint64_t(uint32_t(~l)) + carry;
      l = uint32_t(v);
      carry = v >> 32;
    }
  }
  r.mag_ = std::move(limbs);
  r.negative_ = neg;
  r.normalize();
  return r;
}

namespace {
template <class F>
BigInt bitwise(const BigInt& a, const BigInt& b, F f, std::vector<uint32_t> (BigInt::*tc)(size_t) const,
               BigInt (*from)(std::vector<uint32_t>)) {
  size_t n = std::max(a.bitLength(), b.bitLength()) / 32 + 2;
  std::vector<uint32_t> x = (a.*tc)(n), y = (b.*tc)(n);
  for (size_t i = 0; i < n; i++) x[i] = f(x[i], y[i]);
  return from(std::move(x));
}
}  // namespace

BigInt BigInt::bitAnd(const BigInt& a, const BigInt& b) {
  return bitwise(
      a, b, [](uint32_t x, uint32_t y) { return x & y; }, &BigInt::twosComplement, &BigInt::fromTwosComplement);
}
BigInt BigInt::bitOr(const BigInt& a, const BigInt& b) {
  return bitwise(
      a, b, [](uint32_t x, uint32_t y) { return x | y; }, &BigInt::twosComplement, &BigInt::fromTwosComplement);
}
BigInt BigInt::bitXor(const BigInt& a, const BigInt& b) {
  return bitwise(
      a, b, [](uint32_t x, uint32_t y) { return x ^ y; }, &BigInt::twosComplement, &BigInt::fromTwosComplement);
}

}  // namespace vm
