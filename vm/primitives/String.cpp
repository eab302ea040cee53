// String, Symbol and ByteArray primitives. Strings hold UTF-8 bytes and are sequences of
// characters (code points, vm/Utf8.h): length, at:, copyFrom:to:, indexOf: count
// characters, by byte arithmetic when the string is all ASCII and by walking it otherwise.
// The byte protocol (byteSize, byteAt:, copyBytesFrom:to:, byteIndexOf:from:to:,
// replaceBytesFrom:to:with:startingAt:) is for code that works on the encoding (protocol
// parsers, I/O buffers). SOM's #charAt: answers a one-character String.
#include <algorithm>

#include "vm/HttpHeadLexer.h"
#include "vm/Utf8.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

// The byte range [begin, end) of the characters [from, to] (1-based, inclusive) of the
// string [o], from <= to; false when they are not all in it.
bool characterRange(HeapObject* o, int64_t from, int64_t to, size_t& begin, size_t& end) {
  size_t n = o->byteLength();
  if (from < 1 || to < from) return false;
  if (utf8::isAscii(o)) {
    if (uint64_t(to) > n) return false;
    begin = size_t(from - 1);
    end = size_t(to);
    return true;
  }
  std::string_view s = bytesOf(o->asOop());
  begin = utf8::offsetOf(s, size_t(from - 1));
  if (begin == std::string_view::npos || begin == n) return false;
  end = begin;
  for (int64_t k = from; k <= to; k++) {
    if (end == n) return false;
    end += utf8::sequenceLength(s, end);
  }
  return true;
}

// A new String of [bytes], marked all-ASCII when [ascii] says so (newString checks
// otherwise).
Oop newStringOf(Runtime& rt, std::string_view bytes, bool ascii) {
  Oop r = newString(rt, bytes);
  if (ascii) r.object()->setKnownAscii(true);
  return r;
}

ESPELL_PRIMITIVE(strLength) {
  HeapObject* o = receiver(in, argc).object();
  if (utf8::isAscii(o)) return answerInt(in, argc, int64_t(o->byteLength()));
  return answerInt(in, argc, int64_t(utf8::countCharacters(bytesOf(o->asOop()))));
}

ESPELL_PRIMITIVE(bytesLength) {
  return answerInt(in, argc, int64_t(receiver(in, argc).object()->byteLength()));
}

ESPELL_PRIMITIVE(strIsAscii) {
  return answerBool(in, argc, utf8::isAscii(receiver(in, argc).object()));
}

ESPELL_PRIMITIVE(strEquals) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  if (a == b) return answerBool(in, argc, true);
  if (!isString(rt, b)) return answerBool(in, argc, false);
  // A Symbol equals only itself (they are unique); Strings compare by contents.
  if (isSymbol(rt, a) && isSymbol(rt, b)) return answerBool(in, argc, false);
  return answerBool(in, argc, bytesOf(a) == bytesOf(b));
}

ESPELL_PRIMITIVE(strCompare) {
  Runtime& rt = in.runtime();
  Oop a = receiver(in, argc), b = arg(in, argc, 0);
  if (!isString(rt, b)) return kFail;
  int c = bytesOf(a).compare(bytesOf(b));
  return answerInt(in, argc, c < 0 ? -1 : c > 0 ? 1 : 0);
}

ESPELL_PRIMITIVE(strHash) {
  std::string_view s = bytesOf(receiver(in, argc));
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return answerInt(in, argc, int64_t(h & ((uint64_t(1) << 60) - 1)));
}

ESPELL_PRIMITIVE(strConcatenate) {
  Runtime& rt = in.runtime();
  Oop b = arg(in, argc, 0);
  if (!isString(rt, b)) return kFail;
  size_t la = receiver(in, argc).object()->byteLength(), lb = b.object()->byteLength();
  Oop r = rt.space().allocateBytes(rt.known.string, la + lb);
  Oop a = receiver(in, argc);
  b = arg(in, argc, 0);
  std::memcpy(r.object()->bytes(), a.object()->bytes(), la);
  std::memcpy(r.object()->bytes() + la, b.object()->bytes(), lb);
  // Only what is already known: concatenation is on the hot path, a scan is not.
  if (a.object()->isKnownAscii() && b.object()->isKnownAscii()) r.object()->setKnownAscii(true);
  return answer(in, argc, r);
}

ESPELL_PRIMITIVE(strAsSymbol) {
  Runtime& rt = in.runtime();
  Oop r = receiver(in, argc);
  if (isSymbol(rt, r)) return answer(in, argc, r);
  std::string s(bytesOf(r));
  return answer(in, argc, rt.symbol(s));
}

ESPELL_PRIMITIVE(symAsString) {
  Oop r = receiver(in, argc);
  std::string s(bytesOf(r));
  bool ascii = r.object()->isKnownAscii();
  return answer(in, argc, newStringOf(in.runtime(), s, ascii));
}

// The byte offset of the character at the 1-based index [index] of the string [o]; npos
// when out of range.
size_t characterOffset(HeapObject* o, Oop index) {
  if (!index.isSmallInteger() || index.smallInteger() < 1) return std::string_view::npos;
  size_t n = o->byteLength();
  if (utf8::isAscii(o)) {
    return uint64_t(index.smallInteger()) <= n ? size_t(index.smallInteger() - 1) : std::string_view::npos;
  }
  size_t off = utf8::offsetOf(bytesOf(o->asOop()), size_t(index.smallInteger() - 1));
  return off == n ? std::string_view::npos : off;
}

// at: of a string that is not known to be all ASCII: a walk to the character.
[[gnu::noinline]] PrimitiveResult strAtWalking(Interpreter& in, int argc) {
  HeapObject* o = receiver(in, argc).object();
  size_t off = characterOffset(o, arg(in, argc, 0));
  if (off == std::string_view::npos) return kFail;
  return answer(in, argc, Oop::fromCharacter(utf8::decodeAt(bytesOf(o->asOop()), off)));
}

ESPELL_PRIMITIVE(strAt) {
  HeapObject* o = receiver(in, argc).object();
  if (!o->isKnownAscii()) return strAtWalking(in, argc);
  // All ASCII, the common case: the byte at the index, as before characters were counted.
  int64_t i = index0(arg(in, argc, 0), o->byteLength());
  if (i < 0) return kFail;
  return answer(in, argc, Oop::fromCharacter(o->bytes()[i]));
}

ESPELL_PRIMITIVE(strCharAt) {
  HeapObject* o = receiver(in, argc).object();
  size_t off = characterOffset(o, arg(in, argc, 0));
  if (off == std::string_view::npos) return kFail;
  std::string_view s = bytesOf(o->asOop());
  std::string c(s.substr(off, utf8::sequenceLength(s, off)));
  return answer(in, argc, newStringOf(in.runtime(), c, c.size() == 1 && uint8_t(c[0]) < 0x80));
}

// at:put: other than an ASCII character into an all-ASCII string: find the character,
// replace it if the encodings are as long.
[[gnu::noinline]] PrimitiveResult strAtPutWalking(Interpreter& in, int argc) {
  Oop r = receiver(in, argc), v = arg(in, argc, 1);
  HeapObject* o = r.object();
  uint32_t cp = v.character();
  size_t off = characterOffset(o, arg(in, argc, 0));
  if (off == std::string_view::npos) return kFail;
  std::string encoded;
  utf8::append(encoded, cp);
  if (utf8::sequenceLength(bytesOf(r), off) != encoded.size()) return kFail;
  std::memcpy(o->bytes() + off, encoded.data(), encoded.size());
  if (cp >= 0x80) o->noteBytesWritten();
  return answer(in, argc, v);
}

// at: index put: aCharacter — in place, so only where the character's encoding is as long
// as the one it replaces (always, in an all-ASCII string given an ASCII character); the
// Smalltalk fallback says why it failed otherwise.
ESPELL_PRIMITIVE(strAtPut) {
  Oop v = arg(in, argc, 1);
  HeapObject* o = receiver(in, argc).object();
  if (o->isImmutable() || !v.isCharacter()) return kFail;  // symbols are immutable
  if (v.character() >= 0x80 || !o->isKnownAscii()) return strAtPutWalking(in, argc);
  // The common case: a byte store.
  int64_t i = index0(arg(in, argc, 0), o->byteLength());
  if (i < 0) return kFail;
  o->bytes()[i] = uint8_t(v.character());
  return answer(in, argc, v);
}

// byteAt: index putCharacter: aCharacter — its UTF-8 encoding from byte index on; answers
// the index of the last byte written. Fails when it does not fit (WriteStream grows then).
ESPELL_PRIMITIVE(strByteAtPutCharacter) {
  Oop r = receiver(in, argc), index = arg(in, argc, 0), v = arg(in, argc, 1);
  HeapObject* o = r.object();
  if (o->isImmutable() || !v.isCharacter() || !index.isSmallInteger() || index.smallInteger() < 1) return kFail;
  uint64_t i = uint64_t(index.smallInteger() - 1);
  uint32_t cp = v.character();
  if (cp < 0x80) {  // ASCII keeps what is known of the string
    if (i >= o->byteLength()) return kFail;
    o->bytes()[i] = uint8_t(cp);
    return answerInt(in, argc, int64_t(i) + 1);
  }
  std::string encoded;
  utf8::append(encoded, cp);
  if (i + encoded.size() > o->byteLength()) return kFail;
  std::memcpy(o->bytes() + i, encoded.data(), encoded.size());
  o->noteBytesWritten();
  return answerInt(in, argc, int64_t(i + encoded.size()));
}

// asArray: the characters, in an Array.
ESPELL_PRIMITIVE(strAsArray) {
  Runtime& rt = in.runtime();
  size_t n = utf8::countCharacters(bytesOf(receiver(in, argc)));
  Oop a = newArray(rt, n);
  // The allocation may have moved the receiver: read it again from the stack (a root).
  std::string_view s = bytesOf(receiver(in, argc));
  size_t k = 0;
  for (size_t i = 0; i < s.size(); i += utf8::sequenceLength(s, i)) {
    a.object()->slots()[k++] = Oop::fromCharacter(utf8::decodeAt(s, i));  // immediates: no barrier
  }
  return answer(in, argc, a);
}

ESPELL_PRIMITIVE(strByteAt) {
  Oop r = receiver(in, argc);
  int64_t i = index0(arg(in, argc, 0), r.object()->byteLength());
  if (i < 0) return kFail;
  return answerInt(in, argc, r.object()->bytes()[i]);
}

// byteAt: index put: aByte (0 to 255) — for Strings and ByteArrays.
ESPELL_PRIMITIVE(bytesAtPut) {
  Oop r = receiver(in, argc), v = arg(in, argc, 1);
  if (r.object()->isImmutable()) return kFail;  // symbols
  int64_t i = index0(arg(in, argc, 0), r.object()->byteLength());
  if (i < 0 || !v.isSmallInteger() || v.smallInteger() < 0 || v.smallInteger() > 255) return kFail;
  r.object()->bytes()[i] = uint8_t(v.smallInteger());
  if (v.smallInteger() >= 0x80) r.object()->noteBytesWritten();
  return answer(in, argc, v);
}

// ByteArray>>at:put: — a byte, given as an Integer or as a Character below 256.
ESPELL_PRIMITIVE(byteArrayAtPut) {
  Oop v = arg(in, argc, 1);
  if (v.isCharacter() && v.character() < 256) {
    int64_t i = index0(arg(in, argc, 0), receiver(in, argc).object()->byteLength());
    if (i < 0) return kFail;
    receiver(in, argc).object()->bytes()[i] = uint8_t(v.character());
    return answer(in, argc, v);
  }
  return bytesAtPut(in, argc);
}

// copyFrom: start to: end, in characters.
ESPELL_PRIMITIVE(strSubstring) {
  Runtime& rt = in.runtime();
  Oop from = arg(in, argc, 0), to = arg(in, argc, 1);
  if (!from.isSmallInteger() || !to.isSmallInteger()) return kFail;
  if (to.smallInteger() < from.smallInteger()) return answer(in, argc, newStringOf(rt, "", true));
  size_t begin, end;
  HeapObject* o = receiver(in, argc).object();
  if (!characterRange(o, from.smallInteger(), to.smallInteger(), begin, end)) return kFail;
  bool ascii = o->isKnownAscii();
  Oop out = rt.space().allocateBytes(rt.known.string, end - begin);
  // The allocation may have moved the receiver: read it again from the stack (a root).
  std::memcpy(out.object()->bytes(), receiver(in, argc).object()->bytes() + begin, end - begin);
  if (ascii) out.object()->setKnownAscii(true);
  return answer(in, argc, out);
}

// copyBytesFrom: start to: end (ByteArray>>copyFrom:to:) — a String of a String's bytes
// (which may cut a character), a ByteArray of a ByteArray's.
ESPELL_PRIMITIVE(bytesCopy) {
  Runtime& rt = in.runtime();
  Oop r = receiver(in, argc), from = arg(in, argc, 0), to = arg(in, argc, 1);
  if (!from.isSmallInteger() || !to.isSmallInteger()) return kFail;
  int64_t n = int64_t(r.object()->byteLength());
  int64_t start = from.smallInteger(), end = to.smallInteger();
  ClassIndex cls = r.object()->classIndex() == rt.known.byteArray ? rt.known.byteArray : rt.known.string;
  if (end < start) return answer(in, argc, rt.space().allocateBytes(cls, 0));
  if (start < 1 || end > n) return kFail;
  size_t count = size_t(end - start + 1);
  bool ascii = r.object()->isKnownAscii();
  Oop out = rt.space().allocateBytes(cls, count);
  // The allocation may have moved the receiver: read it again from the stack (a root).
  r = receiver(in, argc);
  std::memcpy(out.object()->bytes(), r.object()->bytes() + (start - 1), count);
  if (ascii) out.object()->setKnownAscii(true);
  return answer(in, argc, out);
}

// Whether the string is not empty and [p] holds for each of its characters.
template <class P>
PrimitiveResult allChars(Interpreter& in, int argc, P p) {
  std::string_view s = bytesOf(receiver(in, argc));
  if (s.empty()) return answerBool(in, argc, false);
  for (size_t i = 0; i < s.size(); i += utf8::sequenceLength(s, i)) {
    if (!p(utf8::decodeAt(s, i))) return answerBool(in, argc, false);
  }
  return answerBool(in, argc, true);
}
ESPELL_PRIMITIVE(strIsWhiteSpace) {
  return allChars(in, argc, utf8::isWhitespace);
}
ESPELL_PRIMITIVE(strIsLetters) {
  return allChars(in, argc, utf8::isLetter);
}
ESPELL_PRIMITIVE(strIsDigits) {
  return allChars(in, argc, utf8::isDigit);
}

ESPELL_PRIMITIVE(strBeginsWith) {
  Runtime& rt = in.runtime();
  Oop b = arg(in, argc, 0);
  if (!isString(rt, b)) return kFail;
  std::string_view s = bytesOf(receiver(in, argc)), p = bytesOf(b);
  return answerBool(in, argc, s.substr(0, p.size()) == p);
}

ESPELL_PRIMITIVE(strEndsWith) {
  Runtime& rt = in.runtime();
  Oop b = arg(in, argc, 0);
  if (!isString(rt, b)) return kFail;
  std::string_view s = bytesOf(receiver(in, argc)), p = bytesOf(b);
  return answerBool(in, argc, s.size() >= p.size() && s.substr(s.size() - p.size()) == p);
}

// The first occurrence of [p] in [s] lying wholly within the units [start, stop] (1-based;
// stop beyond the end means the end), as a 1-based unit index, -1 when none (SOM). Units
// are bytes when [ascii], characters otherwise.
int64_t find(std::string_view s, std::string_view p, int64_t start, int64_t stop, bool ascii) {
  if (ascii) {
    int64_t last = std::min<int64_t>(stop, int64_t(s.size()));
    if (last < start) return -1;
    size_t pos = s.substr(0, size_t(last)).find(p, size_t(start - 1));
    return pos == std::string_view::npos ? -1 : int64_t(pos) + 1;
  }
  size_t from = utf8::offsetOf(s, size_t(start - 1));
  if (from == std::string_view::npos || stop < start) return -1;
  size_t to = utf8::offsetOf(s, size_t(stop));  // the end of character stop
  if (to == std::string_view::npos) to = s.size();
  size_t pos = s.substr(0, to).find(p, from);
  return pos == std::string_view::npos ? -1 : int64_t(utf8::indexOfOffset(s, pos)) + 1;
}

// indexOf: aString startingAt: start — in characters.
ESPELL_PRIMITIVE(strIndexOfStartingAt) {
  Runtime& rt = in.runtime();
  Oop b = arg(in, argc, 0), start = arg(in, argc, 1);
  if (!isString(rt, b) || !start.isSmallInteger() || start.smallInteger() < 1) return kFail;
  HeapObject* o = receiver(in, argc).object();
  bool ascii = utf8::isAscii(o);
  return answerInt(in, argc, find(bytesOf(o->asOop()), bytesOf(b), start.smallInteger(), INT64_MAX, ascii));
}

// indexOf: aString from: start to: stop — in characters; byteIndexOf:from:to: in bytes, a
// search bounded to the filled part of a reusable buffer, whatever stale bytes follow it.
template <bool Bytes>
PrimitiveResult indexOfFromTo(Interpreter& in, int argc) {
  Runtime& rt = in.runtime();
  Oop b = arg(in, argc, 0), start = arg(in, argc, 1), stop = arg(in, argc, 2);
  if (!isString(rt, b) || !start.isSmallInteger() || start.smallInteger() < 1 || !stop.isSmallInteger()) {
    return kFail;
  }
  HeapObject* o = receiver(in, argc).object();
  bool ascii = Bytes || utf8::isAscii(o);
  return answerInt(in, argc, find(bytesOf(o->asOop()), bytesOf(b), start.smallInteger(), stop.smallInteger(), ascii));
}
ESPELL_PRIMITIVE(strIndexOfFromTo) {
  return indexOfFromTo<false>(in, argc);
}
ESPELL_PRIMITIVE(strByteIndexOfFromTo) {
  return indexOfFromTo<true>(in, argc);
}

// A new String of [f] applied to each character (an ASCII string byte by byte).
template <class F>
PrimitiveResult mapChars(Interpreter& in, int argc, F f) {
  HeapObject* o = receiver(in, argc).object();
  std::string_view s = bytesOf(o->asOop());
  std::string out;
  out.reserve(s.size());
  bool ascii = utf8::isAscii(o);
  if (ascii) {
    for (char c : s) out += char(f(static_cast<unsigned char>(c)));
  } else {
    for (size_t i = 0; i < s.size(); i += utf8::sequenceLength(s, i)) utf8::append(out, f(utf8::decodeAt(s, i)));
  }
  return answer(in, argc, newStringOf(in.runtime(), out, ascii));
}
ESPELL_PRIMITIVE(strAsUppercase) {
  return mapChars(in, argc, utf8::toUppercase);
}
ESPELL_PRIMITIVE(strAsLowercase) {
  return mapChars(in, argc, utf8::toLowercase);
}

// replaceFrom: start to: stop with: source startingAt: sourceStart — bulk byte copy
// between byte objects (ByteArrays; Strings' replaceBytesFrom:to:with:startingAt:), used
// by streams and buffers.
ESPELL_PRIMITIVE(bytesReplace) {
  Oop r = receiver(in, argc), from = arg(in, argc, 0), to = arg(in, argc, 1), src = arg(in, argc, 2),
      srcStart = arg(in, argc, 3);
  if (!isBytesObject(in.runtime(), src) || !from.isSmallInteger() || !to.isSmallInteger() ||
      !srcStart.isSmallInteger()) {
    return kFail;
  }
  int64_t a = from.smallInteger(), b = to.smallInteger(), c = srcStart.smallInteger();
  int64_t n = b - a + 1;
  if (n < 0 || a < 1 || b > int64_t(r.object()->byteLength()) || c < 1 ||
      c + n - 1 > int64_t(src.object()->byteLength())) {
    return kFail;
  }
  if (r.object()->isImmutable()) return kFail;  // symbols
  HeapObject* target = r.object();
  if (target->isKnownAscii() && !src.object()->isKnownAscii() &&
      !utf8::allAscii(bytesOf(src).substr(size_t(c - 1), size_t(n)))) {
    target->noteBytesWritten();
  }
  std::memmove(target->bytes() + a - 1, src.object()->bytes() + c - 1, size_t(n));
  return answer(in, argc, r);
}

// replaceFrom: start to: stop with: source startingAt: sourceStart of Strings, in
// characters: a byte copy when both are all ASCII; otherwise the primitive fails and the
// Smalltalk method stores character by character.
ESPELL_PRIMITIVE(strReplace) {
  Oop src = arg(in, argc, 2);
  if (!isString(in.runtime(), src) || !utf8::isAscii(receiver(in, argc).object()) || !utf8::isAscii(src.object())) {
    return kFail;
  }
  return bytesReplace(in, argc);
}

ESPELL_PRIMITIVE(bytesAsString) {
  std::string s(bytesOf(receiver(in, argc)));
  return answerString(in, argc, s);
}

ESPELL_PRIMITIVE(strAsByteArray) {
  Runtime& rt = in.runtime();
  std::string s(bytesOf(receiver(in, argc)));
  Oop b = newByteArray(rt, s.size());
  std::memcpy(b.object()->bytes(), s.data(), s.size());
  return answer(in, argc, b);
}

// httpHeadFrom: start to: stop into: fields — lexes the request head at byte positions
// start..stop (vm/HttpHeadLexer.h) and stores where its parts are into the Array fields,
// as SmallIntegers: 1-based first and last byte positions of the method, target and
// version, then name and value of each header line (a value's last position is one less
// than its first when it is empty). Answers the number of header lines, -1 for a malformed
// head or request line, -2 for a malformed header line (the request line's positions are
// stored), or -3 when fields has too few slots (6 + 4 per header line). Stores nothing but
// immediates and allocates nothing, so no collection can happen in it.
ESPELL_PRIMITIVE(strHttpHead) {
  Oop r = receiver(in, argc), start = arg(in, argc, 0), stop = arg(in, argc, 1), fields = arg(in, argc, 2);
  if (!start.isSmallInteger() || !stop.isSmallInteger() || !fields.isHeapObject() ||
      fields.object()->format() != space::Format::Indexable || fields.object()->isImmutable()) {
    return kFail;
  }
  int64_t first = start.smallInteger(), last = stop.smallInteger();
  int64_t size = int64_t(r.object()->byteLength());
  if (first < 1 || last < first - 1 || last > size) return kFail;
  std::string_view head = bytesOf(r).substr(size_t(first - 1), size_t(last - first + 1));
  Oop* slots = fields.object()->slots();
  size_t capacity = size_t(fields.object()->slotCount());
  int64_t n = http::lexHead(head, [&](size_t k, size_t offset) {
    // Immediates only: no write barrier. 0-based offsets in head become 1-based buffer
    // positions; an exclusive end is the inclusive last position.
    if (k < capacity) slots[k] = Oop::fromSmallInteger(int64_t(offset) + (k % 2 == 0 ? first : first - 1));
  });
  if (n >= 0 && 6 + 4 * uint64_t(n) > capacity) return answerInt(in, argc, -3);
  if (n == http::kHeadFieldMalformed && capacity < 6) return answerInt(in, argc, -3);
  return answerInt(in, argc, n);
}

}  // namespace
}  // namespace prim

// Their receivers need no check: these primitives are bound only in String, Symbol and
// ByteArray or subclasses (Primitives.h), and every subclass of a byte class holds bytes.
void registerStringPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("String>>length", strLength);
  t.add("String>>size", strLength);
  t.add("String>>isAscii", strIsAscii);
  t.add("String>>=", strEquals);
  t.add("String>>compare:", strCompare);
  t.add("String>>hashcode", strHash);
  t.add("String>>concatenate:", strConcatenate);
  t.add("String>>asSymbol", strAsSymbol);
  t.add("Symbol>>asString", symAsString);
  t.add("String>>at:", strAt);
  t.add("String>>charAt:", strCharAt);
  t.add("String>>at:put:", strAtPut);
  t.add("String>>primSubstringFrom:to:", strSubstring);
  t.add("String>>isWhiteSpace", strIsWhiteSpace);
  t.add("String>>isLetters", strIsLetters);
  t.add("String>>isDigits", strIsDigits);
  t.add("String>>beginsWith:", strBeginsWith);
  t.add("String>>endsWith:", strEndsWith);
  t.add("String>>indexOf:startingAt:", strIndexOfStartingAt);
  t.add("String>>indexOf:from:to:", strIndexOfFromTo);
  t.add("String>>asUppercase", strAsUppercase);
  t.add("String>>asLowercase", strAsLowercase);
  t.add("String>>replaceFrom:to:with:startingAt:", strReplace);
  t.add("String>>asByteArray", strAsByteArray);
  t.add("String>>asArray", strAsArray);
  // The byte protocol of Strings.
  t.add("String>>byteSize", bytesLength);
  t.add("String>>byteAt:", strByteAt);
  t.add("String>>byteAt:put:", bytesAtPut);
  t.add("String>>byteAt:putCharacter:", strByteAtPutCharacter);
  t.add("String>>copyBytesFrom:to:", bytesCopy);
  t.add("String>>byteIndexOf:from:to:", strByteIndexOfFromTo);
  t.add("String>>replaceBytesFrom:to:with:startingAt:", bytesReplace);
  t.add("String>>httpHeadFrom:to:into:", strHttpHead);
  t.add("ByteArray>>length", bytesLength);
  t.add("ByteArray>>size", bytesLength);
  t.add("ByteArray>>byteSize", bytesLength);
  t.add("ByteArray>>at:", strByteAt);
  t.add("ByteArray>>at:put:", byteArrayAtPut);
  t.add("ByteArray>>asString", bytesAsString);
  t.add("ByteArray>>replaceFrom:to:with:startingAt:", bytesReplace);
  t.add("ByteArray>>copyFrom:to:", bytesCopy);
}

}  // namespace vm
