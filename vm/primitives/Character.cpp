// Character primitives: immediate characters (Unicode code points).
#include <cctype>

#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

void appendUtf8(std::string& out, uint32_t cp) {
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

ESPELL_PRIMITIVE(charValue) {
  Oop r = receiver(in, argc);
  if (!r.isCharacter()) return kFail;
  return answerInt(in, argc, r.character());
}

ESPELL_PRIMITIVE(charFromValue) {
  Oop v = arg(in, argc, 0);
  if (!v.isSmallInteger() || v.smallInteger() < 0 || v.smallInteger() > 0x10FFFF) return kFail;
  return answer(in, argc, Oop::fromCharacter(uint32_t(v.smallInteger())));
}

ESPELL_PRIMITIVE(charAsString) {
  Oop r = receiver(in, argc);
  if (!r.isCharacter()) return kFail;
  std::string s;
  if (r.character() < 256) {
    s += char(r.character());  // byte strings: one byte per character below 256
  } else {
    appendUtf8(s, r.character());
  }
  return answerString(in, argc, s);
}

}  // namespace
}  // namespace prim

void registerCharacterPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Character>>value", charValue);
  t.add("Character>>asInteger", charValue);
  t.add("Character class>>value:", charFromValue);
  t.add("Character>>asString", charAsString);
}

}  // namespace vm
