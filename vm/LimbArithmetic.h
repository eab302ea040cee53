// LimbArithmetic: non-negative magnitudes as vectors of 32-bit limbs in a base up to 2^32
// (least significant limb first): addition, subtraction and multiplication — schoolbook
// below kKaratsubaLimbs, Karatsuba above, so multiplying two n-limb numbers costs
// O(n^1.585) instead of O(n^2). The same code serves binary magnitudes (BigInt, base
// 2^32) and the decimal ones that radix conversion builds (base 10^9, or radix^k for
// other radixes): see RadixConversion.cpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vm/LongOperation.h"

namespace vm {

using Limbs = std::vector<uint32_t>;
using LimbSpan = std::span<const uint32_t>;

// Bases: a type with value() (at most 2^32). The two fixed ones are constexpr so that
// the compiler turns every division by the base into shifts or multiplications.
struct BinaryBase {
  static constexpr uint64_t value() { return uint64_t(1) << 32; }
};
struct DecimalBase {
  static constexpr uint64_t value() { return 1000000000; }
};
struct RuntimeBase {
  uint64_t base;  // 2 .. 2^32
  uint64_t value() const { return base; }
};

template <class Base>
class LimbArithmetic {
 public:
  // Below this many limbs in the shorter operand, schoolbook multiplication is faster.
  static constexpr size_t kKaratsubaLimbs = 40;

  explicit LimbArithmetic(Base base = Base{}) : base_(base) {}

  // Drops leading zero limbs.
  static void trim(Limbs& x) {
    while (!x.empty() && x.back() == 0) x.pop_back();
  }
  static LimbSpan trimmed(LimbSpan x) {
    while (!x.empty() && x.back() == 0) x = x.first(x.size() - 1);
    return x;
  }

  // a + b.
  Limbs add(LimbSpan a, LimbSpan b) const {
    Limbs r(a.begin(), a.end());
    addAt(r, b, 0);
    return r;
  }

  // acc += x * base^offset; acc grows as needed.
  void addAt(Limbs& acc, LimbSpan x, size_t offset) const {
    const uint64_t B = base_.value();
    x = trimmed(x);
    if (acc.size() < offset + x.size()) acc.resize(offset + x.size(), 0);
    uint64_t carry = 0;
    size_t i = 0;
    for (; i < x.size(); i++) {
      uint64_t v = uint64_t(acc[offset + i]) + x[i] + carry;
      carry = v >= B;
      acc[offset + i] = uint32_t(carry ? v - B : v);
    }
    for (size_t k = offset + i; carry; k++) {
      if (k == acc.size()) acc.push_back(0);
      uint64_t v = uint64_t(acc[k]) + carry;
      carry = v >= B;
      acc[k] = uint32_t(carry ? v - B : v);
    }
  }

  // acc -= x; requires acc >= x. acc is trimmed afterwards.
  void subtractInPlace(Limbs& acc, LimbSpan x) const {
    const uint64_t B = base_.value();
    x = trimmed(x);
    uint64_t borrow = 0;
    for (size_t i = 0; i < acc.size() && (i < x.size() || borrow); i++) {
      uint64_t sub = (i < x.size() ? x[i] : 0) + borrow;
      borrow = acc[i] < sub;
      acc[i] = uint32_t(borrow ? uint64_t(acc[i]) + B - sub : acc[i] - sub);
    }
    trim(acc);
  }

  // acc = acc * m + a, for m <= base and a < base.
  void multiplyAdd(Limbs& acc, uint64_t m, uint64_t a) const {
    const uint64_t B = base_.value();
    uint64_t carry = a;
    for (uint32_t& limb : acc) {
      uint64_t v = uint64_t(limb) * m + carry;  // <= (B-1)B + (B-1) = B^2 - 1: the carry stays < B
      limb = uint32_t(v % B);
      carry = v / B;
    }
    while (carry) {
      acc.push_back(uint32_t(carry % B));
      carry /= B;
    }
  }

  // a * b, schoolbook: O(|a| |b|).
  Limbs multiplySchoolbook(LimbSpan a, LimbSpan b) const {
    const uint64_t B = base_.value();
    a = trimmed(a);
    b = trimmed(b);
    if (a.empty() || b.empty()) return {};
    if (a.size() >= LongOperation::kLimbs) LongOperation::poll();
    // Bases well below 2^32 (10^9): a 64-bit column can take several products before its
    // carry must be propagated, which saves a division per product.
    const uint64_t maxProduct = (B - 1) * (B - 1);
    const uint64_t maxCarry = UINT64_MAX / B + 1;
    const uint64_t rowsPerFold = (UINT64_MAX - (B - 1) - maxCarry) / maxProduct;
    if (rowsPerFold >= 2) return multiplyDeferringCarries(a, b, rowsPerFold);
    Limbs r(a.size() + b.size(), 0);
    for (size_t i = 0; i < a.size(); i++) {
      uint64_t carry = 0;
      uint64_t ai = a[i];
      for (size_t j = 0; j < b.size(); j++) {
        uint64_t v = ai * b[j] + r[i + j] + carry;  // <= (B-1)^2 + 2(B-1) = B^2 - 1
        r[i + j] = uint32_t(v % B);
        carry = v / B;
      }
      r[i + b.size()] = uint32_t(carry);  // not written before: row i-1 ended one limb lower
    }
    trim(r);
    return r;
  }

  // a * b: Karatsuba when both operands are long, schoolbook otherwise.
  Limbs multiply(LimbSpan a, LimbSpan b) const {
    a = trimmed(a);
    b = trimmed(b);
    if (a.size() < b.size()) std::swap(a, b);
    if (b.size() < kKaratsubaLimbs) return multiplySchoolbook(a, b);
    LongOperation::poll();
    const size_t n = a.size(), m = b.size();
    if (n >= 2 * m) {
      // Unbalanced: multiply b by slices of a as long as b, and add them up.
      Limbs r(n + m, 0);
      for (size_t offset = 0; offset < n; offset += m) {
        Limbs part = multiply(a.subspan(offset, std::min(m, n - offset)), b);
        addAt(r, part, offset);
      }
      trim(r);
      return r;
    }
    // a = a1 B^h + a0, b = b1 B^h + b0 (m > n/2 >= h - 1, so b0 has h limbs or b1 is empty):
    // a b = z2 B^2h + z1 B^h + z0 with z1 = (a0 + a1)(b0 + b1) - z0 - z2.
    const size_t h = (n + 1) / 2;
    LimbSpan a0 = a.first(h), a1 = a.subspan(h);
    LimbSpan b0 = b.first(std::min(h, m)), b1 = m > h ? b.subspan(h) : LimbSpan();
    Limbs z0 = multiply(a0, b0);
    Limbs z2 = multiply(a1, b1);
    Limbs sa = add(a0, a1), sb = add(b0, b1);
    Limbs z1 = multiply(sa, sb);
    subtractInPlace(z1, z0);
    subtractInPlace(z1, z2);
    Limbs r(n + m, 0);
    addAt(r, z0, 0);
    addAt(r, z1, h);
    addAt(r, z2, 2 * h);
    trim(r);
    return r;
  }

 private:
  // Schoolbook with 64-bit columns: after a fold every column is below the base; then
  // rowsPerFold rows add at most (B-1)^2 each, and the next fold propagates the carries
  // (rowsPerFold is chosen so that neither the sums nor a fold can overflow).
  Limbs multiplyDeferringCarries(LimbSpan a, LimbSpan b, uint64_t rowsPerFold) const {
    const uint64_t B = base_.value();
    std::vector<uint64_t> columns(a.size() + b.size(), 0);
    auto fold = [&] {
      uint64_t carry = 0;
      for (uint64_t& c : columns) {
        uint64_t v = c + carry;
        c = v % B;
        carry = v / B;
      }
    };
    for (size_t i = 0; i < a.size(); i++) {
      uint64_t ai = a[i];
      uint64_t* column = columns.data() + i;
      for (size_t j = 0; j < b.size(); j++) column[j] += ai * b[j];
      if ((i + 1) % rowsPerFold == 0) fold();
    }
    fold();  // the product is below B^(|a|+|b|): the last carry is 0
    Limbs r(columns.begin(), columns.end());
    trim(r);
    return r;
  }

  Base base_;
};

}  // namespace vm
