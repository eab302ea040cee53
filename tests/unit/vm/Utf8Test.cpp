// Strings as characters: the UTF-8 walk (counting, offsets, decoding, bytes that are not
// UTF-8) and the all-ASCII cache bit of byte objects, which must never claim ASCII for a
// string holding other bytes.
#include <doctest/doctest.h>

#include "space/Format.h"
#include "space/HeapObject.h"
#include "vm/Utf8.h"

using namespace vm;

TEST_CASE("UTF-8 text counts and indexes code points") {
  std::string_view s =
      "a\xC3\xB1"
      "b\xE2\x9D\xA4"
      "\xF0\x9F\x98\x80";  // a ñ b ❤ 😀
  CHECK(utf8::countCharacters(s) == 5);
  CHECK(utf8::offsetOf(s, 0) == 0);
  CHECK(utf8::offsetOf(s, 2) == 3);
  CHECK(utf8::offsetOf(s, 4) == 7);
  CHECK(utf8::offsetOf(s, 5) == s.size());
  CHECK(utf8::offsetOf(s, 6) == std::string_view::npos);
  CHECK(utf8::indexOfOffset(s, 7) == 4);
  CHECK(utf8::decodeAt(s, 1) == 0xF1);
  CHECK(utf8::decodeAt(s, 4) == 0x2764);
  CHECK(utf8::decodeAt(s, 7) == 0x1F600);
  std::string out;
  for (uint32_t cp : {0x61u, 0xF1u, 0x2764u, 0x1F600u}) utf8::append(out, cp);
  CHECK(out == "a\xC3\xB1\xE2\x9D\xA4\xF0\x9F\x98\x80");
  CHECK(utf8::encodedLength(0x7F) == 1);
  CHECK(utf8::encodedLength(0x800) == 3);
}

TEST_CASE("bytes that are not UTF-8 are one character each") {
  // A stray continuation byte, a lead byte without its continuation, an impossible byte,
  // a sequence cut at the end.
  std::string_view s =
      "\x80"
      "a\xE2"
      "b\xFF\xF0\x9F";
  CHECK(utf8::countCharacters(s) == 7);
  CHECK(utf8::decodeAt(s, 0) == utf8::kReplacementCharacter);
  CHECK(utf8::decodeAt(s, 2) == utf8::kReplacementCharacter);
  CHECK(utf8::decodeAt(s, 3) == 'b');
  CHECK(utf8::offsetOf(s, 6) == 6);
}

TEST_CASE("the ASCII test looks at every byte") {
  std::string long_ascii(100, 'x');
  CHECK(utf8::allAscii(long_ascii));
  for (size_t i : {size_t(0), size_t(7), size_t(8), size_t(63), size_t(99)}) {
    std::string t = long_ascii;
    t[i] = char(0xC3);
    CHECK_FALSE(utf8::allAscii(t));
  }
  CHECK(utf8::allAscii(""));
}

TEST_CASE("the all-ASCII bit of byte formats keeps size and padding") {
  using namespace space;
  // A word before the object, where an overflow word would be (the compiler sees the read).
  alignas(8) uint64_t memory[5] = {};
  HeapObject* o =
      HeapObject::initializeAt(reinterpret_cast<uintptr_t>(memory + 1), ClassIndex(40), bytesFormatWithPadding(3), 2);
  CHECK(o->byteLength() == 13);
  CHECK_FALSE(o->isKnownAscii());
  o->setKnownAscii(true);
  CHECK(o->isKnownAscii());
  CHECK(formatIsBytes(o->format()));
  CHECK(formatIsValid(uint8_t(o->format())));
  CHECK(o->byteLength() == 13);
  CHECK(formatWithoutCacheBits(o->format()) == bytesFormatWithPadding(3));
  std::memcpy(o->bytes(), "plain text\xC3\xA9!", 13);
  o->setKnownAscii(false);
  CHECK_FALSE(utf8::isAscii(o));
  CHECK_FALSE(o->isKnownAscii());  // a failed check leaves the bit clear
  o->bytes()[10] = 'e';
  o->bytes()[11] = 'e';
  CHECK(utf8::isAscii(o));
  CHECK(o->isKnownAscii());  // a successful one sets it
  o->noteBytesWritten();
  CHECK_FALSE(o->isKnownAscii());
}

TEST_CASE("Unicode classes") {
  CHECK(utf8::isLetter(0xE9));
  CHECK(utf8::isUppercase(0xC9));
  CHECK(utf8::toUppercase(0xE9) == 0xC9);
  CHECK(utf8::toLowercase('Q') == 'q');
  CHECK_FALSE(utf8::isLetter(0x2764));
  CHECK(utf8::isWhitespace(0x3000));
  CHECK_FALSE(utf8::isDigit(0x663));
  CHECK(utf8::isDigit('7'));
}
