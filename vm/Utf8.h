// Utf8: Strings as sequences of characters (Unicode code points) over their UTF-8 bytes.
//
// A String holds UTF-8 bytes; its characters are counted by walking them, except when all
// its bytes are ASCII (the format's cache bit, HeapObject::isKnownAscii), where the i-th
// character is the i-th byte. Bytes that do not form a sequence (a stray continuation
// byte, a lead byte without its continuation bytes, 0xF8..0xFF) count as one character
// each, U+FFFD, so every byte string has a length and indexes consistently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "space/HeapObject.h"

namespace vm::utf8 {

constexpr uint32_t kReplacementCharacter = 0xFFFD;

// Whether every byte of [s] is below 128, eight bytes at a time.
inline bool allAscii(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size(), i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w & 0x8080808080808080ull) return false;
  }
  for (; i < n; i++) {
    if (static_cast<unsigned char>(p[i]) >= 0x80) return false;
  }
  return true;
}

// Whether the bytes of the byte object [o] are all ASCII: the cache bit, else a scan that
// sets it when they are.
inline bool isAscii(space::HeapObject* o) {
  if (o->isKnownAscii()) return true;
  if (!allAscii(std::string_view(reinterpret_cast<const char*>(o->bytes()), o->byteLength()))) return false;
  o->setKnownAscii(true);
  return true;
}

// Number of bytes the character starting at [s][i] occupies (see the file comment).
inline size_t sequenceLength(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0xC2) return 1;  // ASCII, a stray continuation byte, or an overlong lead (C0, C1)
  size_t n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (size_t k = 1; k < n; k++) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

// The code point of the character starting at [s][i].
inline uint32_t decodeAt(std::string_view s, size_t i) {
  size_t n = sequenceLength(s, i);
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (n == 1) return c < 0x80 ? c : kReplacementCharacter;
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; k++) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

// Number of characters in [s].
inline size_t countCharacters(std::string_view s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); i += sequenceLength(s, i)) count++;
  return count;
}

// Byte offset of the character with 0-based index [index] in [s]; s.size() when index is
// the number of characters; npos beyond that.
inline size_t offsetOf(std::string_view s, size_t index) {
  size_t i = 0;
  for (; index > 0 && i < s.size(); index--) i += sequenceLength(s, i);
  return index == 0 ? i : std::string_view::npos;
}

// 0-based character index of the character starting at byte offset [offset] of [s].
inline size_t indexOfOffset(std::string_view s, size_t offset) {
  size_t count = 0;
  for (size_t i = 0; i < offset; i += sequenceLength(s, i)) count++;
  return count;
}

// Appends the UTF-8 encoding of the code point [cp] (at most 0x10FFFF) to [out].
inline void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// Number of bytes the UTF-8 encoding of [cp] takes.
inline size_t encodedLength(uint32_t cp) {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

// Unicode character classes and case mappings (of the C.UTF-8 locale; ASCII only if the
// system lacks it). Digits are 0-9 only.
bool isLetter(uint32_t cp);
bool isUppercase(uint32_t cp);
bool isLowercase(uint32_t cp);
bool isDigit(uint32_t cp);
bool isWhitespace(uint32_t cp);
uint32_t toUppercase(uint32_t cp);
uint32_t toLowercase(uint32_t cp);

}  // namespace vm::utf8
