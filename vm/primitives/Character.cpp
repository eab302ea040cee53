// Character primitives: immediate characters (Unicode code points).
#include "vm/Utf8.h"
#include "vm/primitives/PrimitiveSupport.h"

namespace vm {
namespace prim {
namespace {

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
  utf8::append(s, r.character());
  Oop string = newString(in.runtime(), s);
  if (s.size() == 1) string.object()->setKnownAscii(true);
  return answer(in, argc, string);
}

// The Unicode classes and case mappings (vm/Utf8.h).
template <bool (*Test)(uint32_t)>
PrimitiveResult charTest(Interpreter& in, int argc) {
  Oop r = receiver(in, argc);
  if (!r.isCharacter()) return kFail;
  return answerBool(in, argc, Test(r.character()));
}
template <uint32_t (*Map)(uint32_t)>
PrimitiveResult charMap(Interpreter& in, int argc) {
  Oop r = receiver(in, argc);
  if (!r.isCharacter()) return kFail;
  return answer(in, argc, Oop::fromCharacter(Map(r.character())));
}

}  // namespace
}  // namespace prim

void registerCharacterPrimitives(PrimitiveTable& t) {
  using namespace prim;
  t.add("Character>>value", charValue);
  t.add("Character>>asInteger", charValue);
  t.add("Character class>>value:", charFromValue);
  t.add("Character>>asString", charAsString);
  t.add("Character>>isLetter", charTest<utf8::isLetter>);
  t.add("Character>>isUppercase", charTest<utf8::isUppercase>);
  t.add("Character>>isLowercase", charTest<utf8::isLowercase>);
  t.add("Character>>isWhitespace", charTest<utf8::isWhitespace>);
  t.add("Character>>asUppercase", charMap<utf8::toUppercase>);
  t.add("Character>>asLowercase", charMap<utf8::toLowercase>);
}

}  // namespace vm
