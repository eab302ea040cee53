// RadixConversion: BigInt from and to digit strings in any radix 2..36, in subquadratic
// time. Digits are grouped k at a time into limbs of base R = radix^k (the largest power
// that fits 32 bits: 10^9 for decimal), then the limbs are converted between base R and
// base 2^32 by divide and conquer:
//
//   parse:  value(g[0..n)) = value(g[h..n)) * R^h + value(g[0..h))        (binary arithmetic)
//   print:  value(a[0..n)) = value(a[h..n)) * (2^32)^h + value(a[0..h))   (base-R arithmetic)
//
// with h a power of two and the powers R^(2^j) (resp. (2^32)^(2^j) written in base R)
// computed once per conversion by repeated squaring. With Karatsuba multiplication
// (LimbArithmetic.h) a conversion of n digits costs O(n^1.585), where digit-by-digit
// conversion costs O(n^2) (10^6 digits: about 40 s before, see docs/PERFORMANCE.md).
// Printing needs no division: the number is rebuilt in base R by multiplications.
#include <bit>
#include <string>

#include "vm/LargeInteger.h"
#include "vm/LimbArithmetic.h"
#include "vm/LongOperation.h"

namespace vm {

namespace {

// Below this many limbs a conversion runs digit group by digit group (quadratic, but
// faster than splitting at these sizes).
constexpr size_t kBaseCaseLimbs = 32;

// The value of a digit character in radixes up to 36, or 99.
int digitValue(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'z' ? c - 'a' + 10
         : c >= 'A' && c <= 'Z' ? c - 'A' + 10
                                : 99;
}

// How many digits of `radix` one limb of base R = radix^k holds (the largest k with
// radix^k <= 2^32), and R.
struct DigitGroup {
  int digits;
  uint64_t base;
};
DigitGroup digitGroupFor(int radix) {
  DigitGroup g{1, uint64_t(radix)};
  while (g.base * uint64_t(radix) <= (uint64_t(1) << 32)) {
    g.base *= uint64_t(radix);
    g.digits++;
  }
  return g;
}

// The largest power of two strictly below n (n >= 2).
size_t splitPoint(size_t n) {
  return std::bit_floor(n - 1);
}

// Base-R limbs (R = group.base) to a binary magnitude.
class GroupsToBinary {
 public:
  explicit GroupsToBinary(uint64_t groupBase) : groupBase_(groupBase) {}

  Limbs convert(LimbSpan groups) {
    groups = LimbArithmetic<BinaryBase>::trimmed(groups);
    if (groups.size() <= kBaseCaseLimbs) {
      Limbs r;
      if (groups.size() >= LongOperation::kLimbs) LongOperation::poll();
      for (size_t i = groups.size(); i-- > 0;) binary_.multiplyAdd(r, groupBase_, groups[i]);
      return r;
    }
    size_t h = splitPoint(groups.size());
    Limbs r = binary_.multiply(convert(groups.subspan(h)), power(size_t(std::countr_zero(h))));
    binary_.addAt(r, convert(groups.first(h)), 0);
    return r;
  }

 private:
  // R^(2^j) in binary.
  const Limbs& power(size_t j) {
    if (powers_.empty()) {
      powers_.push_back(Limbs{uint32_t(groupBase_), uint32_t(groupBase_ >> 32)});
      LimbArithmetic<BinaryBase>::trim(powers_.back());
    }
    while (powers_.size() <= j) powers_.push_back(binary_.multiply(powers_.back(), powers_.back()));
    return powers_[j];
  }

  uint64_t groupBase_;
  LimbArithmetic<BinaryBase> binary_;
  std::vector<Limbs> powers_;
};

// A binary magnitude to base-R limbs, with R's arithmetic given by Base.
template <class Base>
class BinaryToGroups {
 public:
  explicit BinaryToGroups(Base base) : base_(base), groups_(base) {}

  Limbs convert(LimbSpan a) {
    a = LimbArithmetic<BinaryBase>::trimmed(a);
    if (a.size() <= kBaseCaseLimbs) return convertByDivision(a);
    size_t h = splitPoint(a.size());
    Limbs r = groups_.multiply(convert(a.subspan(h)), power(size_t(std::countr_zero(h))));
    groups_.addAt(r, convert(a.first(h)), 0);
    return r;
  }

 private:
  // Repeated division by R: quadratic, for short magnitudes.
  Limbs convertByDivision(LimbSpan a) const {
    const uint64_t R = base_.value();
    Limbs m(a.begin(), a.end()), r;
    while (!m.empty()) {
      if (m.size() >= LongOperation::kLimbs) LongOperation::poll();
      uint64_t rem = 0;
      for (size_t i = m.size(); i-- > 0;) {
        uint64_t cur = (rem << 32) | m[i];  // rem < R <= 2^32, so cur / R < 2^32
        m[i] = uint32_t(cur / R);
        rem = cur % R;
      }
      LimbArithmetic<BinaryBase>::trim(m);
      r.push_back(uint32_t(rem));
    }
    return r;
  }

  // (2^32)^(2^j) in base R.
  const Limbs& power(size_t j) {
    if (powers_.empty()) {
      Limbs two32;
      for (uint64_t v = uint64_t(1) << 32; v > 0; v /= base_.value()) two32.push_back(uint32_t(v % base_.value()));
      powers_.push_back(std::move(two32));
    }
    while (powers_.size() <= j) powers_.push_back(groups_.multiply(powers_.back(), powers_.back()));
    return powers_[j];
  }

  Base base_;
  LimbArithmetic<Base> groups_;
  std::vector<Limbs> powers_;
};

// Base-R limbs to digits: the most significant limb without leading zeros, every other
// one padded to group.digits digits.
std::string groupsToDigits(const Limbs& groups, DigitGroup group, int radix, bool negative) {
  std::string out;
  out.reserve(groups.size() * size_t(group.digits) + 1);
  if (negative) out.push_back('-');
  auto digitChar = [](uint64_t d) { return char(d < 10 ? '0' + d : 'A' + d - 10); };
  char buffer[64];
  for (size_t i = groups.size(); i-- > 0;) {
    uint64_t v = groups[i];
    int n = 0;
    do {
      buffer[n++] = digitChar(v % uint64_t(radix));
      v /= uint64_t(radix);
    } while (v > 0);
    if (i + 1 != groups.size()) {
      while (n < group.digits) buffer[n++] = '0';
    }
    while (n > 0) out.push_back(buffer[--n]);
  }
  return out;
}

}  // namespace

std::optional<BigInt> BigInt::parse(const std::string& text, int radix) {
  if (radix < 2 || radix > 36) return std::nullopt;
  size_t first = 0;
  bool negative = false;
  if (first < text.size() && text[first] == '-') {
    negative = true;
    first++;
  }
  if (first >= text.size()) return std::nullopt;
  // 1. Check every digit before any arithmetic.
  for (size_t i = first; i < text.size(); i++) {
    if (digitValue(text[i]) >= radix) return std::nullopt;
  }
  // 2. Group the digits, least significant group first.
  DigitGroup group = digitGroupFor(radix);
  Limbs groups;
  groups.reserve((text.size() - first) / size_t(group.digits) + 1);
  for (size_t end = text.size(); end > first;) {
    size_t begin = end - first >= size_t(group.digits) ? end - size_t(group.digits) : first;
    uint64_t v = 0;
    for (size_t i = begin; i < end; i++) v = v * uint64_t(radix) + uint64_t(digitValue(text[i]));
    groups.push_back(uint32_t(v));  // v < R <= 2^32
    end = begin;
  }
  // 3. Convert base R to base 2^32.
  BigInt r;
  r.mag_ = GroupsToBinary(group.base).convert(groups);
  r.negative_ = negative;
  r.normalize();
  return r;
}

std::string BigInt::toString(int radix) const {
  if (radix < 2 || radix > 36) radix = 10;
  if (mag_.empty()) return "0";
  DigitGroup group = digitGroupFor(radix);
  Limbs groups = radix == 10 ? BinaryToGroups<DecimalBase>(DecimalBase{}).convert(mag_)
                             : BinaryToGroups<RuntimeBase>(RuntimeBase{group.base}).convert(mag_);
  return groupsToDigits(groups, group, radix, negative_);
}

}  // namespace vm
