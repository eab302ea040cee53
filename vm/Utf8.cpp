// Unicode character classes for Strings and Characters, from the C.UTF-8 locale.
#include "vm/Utf8.h"

#include <locale.h>
#include <wctype.h>

namespace vm::utf8 {
namespace {

// The C.UTF-8 locale, opened once and never changed: a constant table, not program state.
// Null when the system has none; then only ASCII has classes.
locale_t unicodeLocale() {
  static const locale_t locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t(nullptr));
  return locale;
}

template <class Wide, class Ascii>
bool classify(uint32_t cp, Wide wide, Ascii ascii) {
  if (cp < 0x80) return ascii(int(cp));
  locale_t l = unicodeLocale();
  return l != locale_t(nullptr) && wide(wint_t(cp), l) != 0;
}

}  // namespace

bool isLetter(uint32_t cp) {
  return classify(cp, iswalpha_l, [](int c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; });
}
bool isUppercase(uint32_t cp) {
  return classify(cp, iswupper_l, [](int c) { return c >= 'A' && c <= 'Z'; });
}
bool isLowercase(uint32_t cp) {
  return classify(cp, iswlower_l, [](int c) { return c >= 'a' && c <= 'z'; });
}
// Only 0-9: the locale counts the digits of other scripts as letters, so their digit
// values could not be read back consistently.
bool isDigit(uint32_t cp) {
  return cp >= '0' && cp <= '9';
}
bool isWhitespace(uint32_t cp) {
  return classify(cp, iswspace_l, [](int c) { return c == ' ' || (c >= 9 && c <= 13); });
}
uint32_t toUppercase(uint32_t cp) {
  if (cp < 0x80) return cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
  locale_t l = unicodeLocale();
  return l == locale_t(nullptr) ? cp : uint32_t(towupper_l(wint_t(cp), l));
}
uint32_t toLowercase(uint32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  locale_t l = unicodeLocale();
  return l == locale_t(nullptr) ? cp : uint32_t(towlower_l(wint_t(cp), l));
}

}  // namespace vm::utf8
