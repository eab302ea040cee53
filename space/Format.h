// Format: how the slots of a heap object are to be interpreted (pointers or raw data).
#pragma once

#include <cstdint>

namespace space {

// Five bits in the object header. The GC only distinguishes "pointer slots" (scanned)
// from "raw slots" (never scanned); the VM uses the finer distinctions.
enum class Format : uint8_t {
  Empty = 0,           // no instance variables (the object still owns one hidden word)
  Fixed = 1,           // named pointer slots only
  Indexable = 2,       // indexable pointer slots only (Array)
  FixedIndexable = 3,  // named pointer slots followed by indexable ones
  Stack = 4,           // a process stack: pointer slots, only [0, top] are live
  CompiledCode = 5,    // a method or block: pointer slots (bytecodes live in a ByteArray)
  Words = 8,           // raw 64-bit words (Double, LargeInteger digits)
  Bytes = 16,          // raw bytes; Bytes + n (n < 8) means the last n bytes are padding
};

constexpr uint8_t kFormatBytesPaddingMask = 7;
// A cache bit of the byte formats (Bytes + 8 + padding): set, every byte is below 128 (it
// was checked, or the object was made from bytes known to be so), so a String's characters
// are its bytes. Clear means "not known": the String primitives check and set it. Every
// write that may store a byte of 128 or more clears it (HeapObject::noteBytesWritten), so a
// set bit is never wrong; it is not part of an object's value (HeapDigest leaves it out).
constexpr uint8_t kFormatBytesAsciiBit = 8;

constexpr bool formatHasPointers(Format f) {
  return static_cast<uint8_t>(f) < 8;
}
constexpr bool formatIsBytes(Format f) {
  return static_cast<uint8_t>(f) >= 16 && static_cast<uint8_t>(f) < 32;
}
constexpr bool formatIsWords(Format f) {
  return f == Format::Words;
}
constexpr bool formatIsIndexable(Format f) {
  return f == Format::Indexable || f == Format::FixedIndexable || f == Format::Words || formatIsBytes(f);
}
constexpr Format bytesFormatWithPadding(unsigned padding) {
  return static_cast<Format>(static_cast<uint8_t>(Format::Bytes) + (padding & kFormatBytesPaddingMask));
}
constexpr bool formatIsValid(uint8_t f) {
  return f <= 5 || f == 8 || (f >= 16 && f < 32);
}
// The format without its cache bits: what an object's value depends on.
constexpr Format formatWithoutCacheBits(Format f) {
  return formatIsBytes(f) ? static_cast<Format>(static_cast<uint8_t>(f) & ~kFormatBytesAsciiBit) : f;
}

}  // namespace space
