// String, Symbol and ByteArray primitives. Strings hold bytes (UTF-8 text); #at: answers
// the Character of a byte, SOM's #charAt: a one-character String.
#include <algorithm>
#include <cctype>

#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

ESPELL_PRIMITIVE(strLength) {
  Oop r = receiver(in, argc);
  return answerInt(in, argc, int64_t(r.object()->byteLength()));
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
  std::string s(bytesOf(receiver(in, argc)));
  return answerString(in, argc, s);
}

ESPELL_PRIMITIVE(strAt) {
  Oop r = receiver(in, argc);
  int64_t i = index0(arg(in, argc, 0), r.object()->byteLength());
  if (i < 0) return kFail;
  return answer(in, argc, Oop::fromCharacter(r.object()->bytes()[i]));
}

ESPELL_PRIMITIVE(strCharAt) {
  Oop r = receiver(in, argc);
  int64_t i = index0(arg(in, argc, 0), r.object()->byteLength());
  if (i < 0) return kFail;
  char c = char(r.object()->bytes()[i]);
  return answerString(in, argc, std::string_view(&c, 1));
}

ESPELL_PRIMITIVE(strAtPut) {
  Oop r = receiver(in, argc), v = arg(in, argc, 1);
  if (r.object()->isImmutable()) return kFail;  // symbols
  int64_t i = index0(arg(in, argc, 0), r.object()->byteLength());
  if (i < 0) return kFail;
  if (v.isCharacter() && v.character() < 256) {
    r.object()->bytes()[i] = uint8_t(v.character());
  } else if (v.isSmallInteger() && v.smallInteger() >= 0 && v.smallInteger() < 256) {
    r.object()->bytes()[i] = uint8_t(v.smallInteger());
  } else {
    return kFail;
  }
  return answer(in, argc, v);
}

ESPELL_PRIMITIVE(strSubstring) {
  Runtime& rt = in.runtime();
  Oop r = receiver(in, argc), from = arg(in, argc, 0), to = arg(in, argc, 1);
  if (!from.isSmallInteger() || !to.isSmallInteger()) return kFail;
  int64_t n = int64_t(r.object()->byteLength());
  int64_t start = from.smallInteger(), end = to.smallInteger();
  if (end < start) return answer(in, argc, newString(rt, ""));
  if (start < 1 || end > n) return kFail;
  size_t count = size_t(end - start + 1);
  ClassIndex cls = r.object()->classIndex() == rt.known.byteArray ? rt.known.byteArray : rt.known.string;
  Oop out = rt.space().allocateBytes(cls, count);
  // The allocation may have moved the receiver: read it again from the stack (a root).
  r = receiver(in, argc);
  std::memcpy(out.object()->bytes(), r.object()->bytes() + (start - 1), count);
  return answer(in, argc, out);
}

template <class P>
PrimitiveResult allChars(Interpreter& in, int argc, P p) {
  std::string_view s = bytesOf(receiver(in, argc));
  if (s.empty()) return answerBool(in, argc, false);
  return answerBool(in, argc,
                    std::all_of(s.begin(), s.end(), [&](char c) { return p(static_cast<unsigned char>(c)); }));
}
ESPELL_PRIMITIVE(strIsWhiteSpace) {
  return allChars(in, argc, [](unsigned char c) { return std::isspace(c) != 0; });
}
ESPELL_PRIMITIVE(strIsLetters) {
  return allChars(in, argc, [](unsigned char c) { return std::isalpha(c) != 0; });
}
ESPELL_PRIMITIVE(strIsDigits) {
  return allChars(in, argc, [](unsigned char c) { return std::isdigit(c) != 0; });
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

ESPELL_PRIMITIVE(strIndexOfStartingAt) {
  Runtime& rt = in.runtime();
  Oop b = arg(in, argc, 0), start = arg(in, argc, 1);
  if (!isString(rt, b) || !start.isSmallInteger() || start.smallInteger() < 1) return kFail;
  std::string_view s = bytesOf(receiver(in, argc)), p = bytesOf(b);
  size_t pos = s.find(p, size_t(start.smallInteger() - 1));
  return answerInt(in, argc, pos == std::string_view::npos ? -1 : int64_t(pos) + 1);  // SOM: -1
}

// indexOf: aString from: start to: stop — the first occurrence lying wholly within
// start..stop (stop beyond the end means the end), -1 when none: a search bounded to the
// filled part of a reusable buffer, whatever stale bytes follow it.
ESPELL_PRIMITIVE(strIndexOfFromTo) {
  Runtime& rt = in.runtime();
  Oop b = arg(in, argc, 0), start = arg(in, argc, 1), stop = arg(in, argc, 2);
  if (!isString(rt, b) || !start.isSmallInteger() || start.smallInteger() < 1 || !stop.isSmallInteger()) {
    return kFail;
  }
  std::string_view s = bytesOf(receiver(in, argc)), p = bytesOf(b);
  int64_t last = std::min<int64_t>(stop.smallInteger(), int64_t(s.size()));
  if (last < start.smallInteger()) return answerInt(in, argc, -1);
  size_t pos = s.substr(0, size_t(last)).find(p, size_t(start.smallInteger() - 1));
  return answerInt(in, argc, pos == std::string_view::npos ? -1 : int64_t(pos) + 1);
}

template <class F>
PrimitiveResult mapChars(Interpreter& in, int argc, F f) {
  std::string s(bytesOf(receiver(in, argc)));
  for (char& c : s) c = char(f(static_cast<unsigned char>(c)));
  return answerString(in, argc, s);
}
ESPELL_PRIMITIVE(strAsUppercase) {
  return mapChars(in, argc, [](unsigned char c) { return std::toupper(c); });
}
ESPELL_PRIMITIVE(strAsLowercase) {
  return mapChars(in, argc, [](unsigned char c) { return std::tolower(c); });
}

// replaceFrom: start to: stop with: source startingAt: sourceStart — bulk byte copy
// between byte objects (Strings, ByteArrays), used by streams.
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
  std::memmove(r.object()->bytes() + a - 1, src.object()->bytes() + c - 1, size_t(n));
  return answer(in, argc, r);
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

ESPELL_PRIMITIVE(byteArrayAt) {
  Oop r = receiver(in, argc);
  int64_t i = index0(arg(in, argc, 0), r.object()->byteLength());
  if (i < 0) return kFail;
  return answerInt(in, argc, r.object()->bytes()[i]);
}

}  // namespace
}  // namespace prim

// Their receivers need no check: these primitives are bound only in String, Symbol and
// ByteArray or subclasses (Primitives.h), and every subclass of a byte class holds bytes.
void registerStringPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("String>>length", strLength);
  t.add("String>>size", strLength);
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
  t.add("String>>replaceFrom:to:with:startingAt:", bytesReplace);
  t.add("String>>asByteArray", strAsByteArray);
  t.add("ByteArray>>length", strLength);
  t.add("ByteArray>>size", strLength);
  t.add("ByteArray>>at:", byteArrayAt);
  t.add("ByteArray>>at:put:", strAtPut);
  t.add("ByteArray>>asString", bytesAsString);
  t.add("ByteArray>>replaceFrom:to:with:startingAt:", bytesReplace);
  t.add("ByteArray>>copyFrom:to:", strSubstring);
}

}  // namespace vm
