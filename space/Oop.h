// Oop: a tagged 64-bit object pointer, the only kind of value stored in a heap slot.
#pragma once

#include <cstdint>

namespace space {

class HeapObject;

// Tag layout (low bits of the 64-bit word):
//
//   ...............................1   SmallInteger: 63-bit two's complement value << 1
//   ..............................010  Character: Unicode code point << 3
//   ..............................100  SmallFloat: a double whose exponent fits 8 bits
//   ..............................000  heap object: address of its header (8-byte aligned)
//
// SmallFloat encoding (as in Spur): rotate the IEEE bits left by one (the sign becomes
// bit 0), subtract the exponent offset 896 (unless the value is +/-0), and shift left by 3.
// Doubles with exponents in [896, 1151] (about 1e-38 .. 1e38 in magnitude), and zeros,
// are immediate; others (tiny, huge, infinities, NaN) are boxed on the heap.
//
// The all-zero word is "no object": it is never stored in a heap slot (slots always hold
// a valid oop or an immediate, so the collectors, the verifier and the mirrors can trust them)
// and is only used by C++ code to mean "absent".
class Oop {
 public:
  static constexpr int64_t kSmallIntegerMin = -(int64_t(1) << 62);
  static constexpr int64_t kSmallIntegerMax = (int64_t(1) << 62) - 1;

  constexpr Oop() = default;
  static constexpr Oop fromBits(uint64_t bits) { return Oop(bits); }
  static constexpr Oop fromSmallInteger(int64_t value) { return Oop((static_cast<uint64_t>(value) << 1) | 1); }
  static constexpr Oop fromCharacter(uint32_t codePoint) { return Oop((static_cast<uint64_t>(codePoint) << 3) | 2); }
  static Oop fromObject(const void* header) { return Oop(reinterpret_cast<uint64_t>(header)); }

  static constexpr uint64_t kSmallFloatExponentOffset = uint64_t(896) << 53;
  // Encodes `d` as a SmallFloat when its exponent allows; answers false otherwise.
  static bool tryFromDouble(double d, Oop& out) {
    uint64_t raw;
    __builtin_memcpy(&raw, &d, sizeof raw);
    uint64_t rot = (raw << 1) | (raw >> 63);
    // In range when rot - offset lies in [2, 2^61 - 1], tested with one unsigned
    // comparison of t = rot - (offset + 2). Below it (the smallest exponent with a zero
    // mantissa would read back as a zero, so it is boxed too) the subtraction wraps around
    // to a huge value. The encoding ((rot - offset) << 3) | 4 is then (t << 3) + 20.
    uint64_t t = rot - (kSmallFloatExponentOffset + 2);
    if (t <= (uint64_t(1) << 61) - 3) [[likely]] {
      out = Oop((t << 3) + ((uint64_t(2) << 3) | 4));
      return true;
    }
    if (rot > 1) return false;
    out = Oop((rot << 3) | 4);  // +0.0 and -0.0 are stored without the offset
    return true;
  }
  double smallFloat() const {
    uint64_t rot = bits_ >> 3;
    if (rot > 1) rot += kSmallFloatExponentOffset;
    uint64_t raw = (rot >> 1) | (rot << 63);
    double d;
    __builtin_memcpy(&d, &raw, sizeof d);
    return d;
  }

  static constexpr bool fitsSmallInteger(int64_t value) {
    return value >= kSmallIntegerMin && value <= kSmallIntegerMax;
  }

  constexpr uint64_t bits() const { return bits_; }
  constexpr bool isNull() const { return bits_ == 0; }
  constexpr bool isSmallInteger() const { return (bits_ & 1) != 0; }
  constexpr bool isCharacter() const { return (bits_ & 7) == 2; }
  constexpr bool isSmallFloat() const { return (bits_ & 7) == 4; }
  constexpr bool isImmediate() const { return (bits_ & 7) != 0; }
  constexpr bool isHeapObject() const { return (bits_ & 7) == 0 && bits_ != 0; }

  constexpr int64_t smallInteger() const { return static_cast<int64_t>(bits_) >> 1; }
  constexpr uint32_t character() const { return static_cast<uint32_t>(bits_ >> 3); }
  HeapObject* object() const { return reinterpret_cast<HeapObject*>(bits_); }
  uintptr_t address() const { return static_cast<uintptr_t>(bits_); }

  constexpr bool operator==(const Oop& other) const = default;

 private:
  constexpr explicit Oop(uint64_t bits) : bits_(bits) {}
  uint64_t bits_ = 0;
};

static_assert(sizeof(Oop) == 8, "an oop is one 64-bit word");

}  // namespace space
