// Lexer: a hand-written scanner for SOM class files and Smalltalk-80 method sources.
#include "vm/compiler/Lexer.h"

#include <cctype>
#include <cstdio>

#include "vm/Utf8.h"

namespace vm {

const char* describe(TokenKind kind) {
  switch (kind) {
    case TokenKind::Identifier:
      return "an identifier";
    case TokenKind::Keyword:
      return "a keyword";
    case TokenKind::KeywordSequence:
      return "a keyword sequence";
    case TokenKind::Operator:
      return "an operator";
    case TokenKind::Integer:
      return "an integer";
    case TokenKind::Double:
      return "a floating-point number";
    case TokenKind::String:
      return "a string";
    case TokenKind::Symbol:
      return "a symbol";
    case TokenKind::Character:
      return "a character literal";
    case TokenKind::Assign:
      return "':='";
    case TokenKind::Caret:
      return "'^'";
    case TokenKind::Colon:
      return "':'";
    case TokenKind::Period:
      return "'.'";
    case TokenKind::Semicolon:
      return "';'";
    case TokenKind::Pound:
      return "'#'";
    case TokenKind::LeftParen:
      return "'('";
    case TokenKind::RightParen:
      return "')'";
    case TokenKind::LeftBracket:
      return "'['";
    case TokenKind::RightBracket:
      return "']'";
    case TokenKind::LeftBrace:
      return "'{'";
    case TokenKind::RightBrace:
      return "'}'";
    case TokenKind::Separator:
      return "'----'";
    case TokenKind::EndOfInput:
      return "the end of the input";
  }
  return "a token";
}

bool isOperatorChar(char c) {
  switch (c) {
    case '~':
    case '&':
    case '|':
    case '*':
    case '/':
    case '\\':
    case '+':
    case '=':
    case '>':
    case '<':
    case ',':
    case '@':
    case '%':
    case '-':
    case '?':
    case '!':
      return true;
    default:
      return false;
  }
}

namespace {
bool isIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool isIdentPart(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// The length of the valid UTF-8 sequence at the start of [s] (its code point in [cp]), or 0
// when it is not one (a stray continuation byte, a truncated or overlong sequence, a
// surrogate, beyond U+10FFFF).
size_t decodeUtf8(std::string_view s, uint32_t& cp) {
  if (s.empty()) return 0;
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char b = byte(0);
  size_t length = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
  if (length == 0 || s.size() < length) return 0;
  cp = length == 1 ? b : b & (0x7Fu >> length);
  for (size_t i = 1; i < length; i++) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  static const uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kSmallest[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return length;
}

std::string hexByte(unsigned char b) {
  const char* digits = "0123456789ABCDEF";
  return std::string("0x") + digits[b >> 4] + digits[b & 15];
}

std::string codePoint(uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", unsigned(cp));
  return buf;
}

// How a character that starts no token is shown in an error: printable ASCII as itself,
// other characters by code point, bytes that are not UTF-8 in hex.
std::string describeUnexpected(std::string_view at) {
  unsigned char b = static_cast<unsigned char>(at[0]);
  if (b >= 0x20 && b < 0x7F) return "character '" + std::string(1, char(b)) + "'";
  if (b < 0x80) return "control character " + hexByte(b);
  uint32_t cp = 0;
  size_t length = decodeUtf8(at, cp);
  if (length == 0) return "byte " + hexByte(b) + " (not valid UTF-8)";
  if (cp == 0xFEFF) return "byte-order mark (U+FEFF; only allowed at the start of a file)";
  return "character '" + std::string(at.substr(0, length)) + "' (" + codePoint(cp) + ")";
}

// A UTF-8 byte-order mark: some editors start files with one; it is not part of the text.
constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
}  // namespace

Lexer::Lexer(std::string_view source, std::string fileName) : source_(source), fileName_(std::move(fileName)) {
  // Skipped without a column: offsets still index the source as given.
  if (source_.substr(0, kByteOrderMark.size()) == kByteOrderMark) pos_ = kByteOrderMark.size();
}

char Lexer::advance() {
  char c = source_[pos_++];
  if (c == '\n') {
    line_++;
    column_ = 1;
  } else {
    column_++;
  }
  return c;
}

void Lexer::fail(SourceLocation where, const std::string& message) const {
  throw CompileError(fileName_, where, message);
}

void Lexer::skipWhitespaceAndComments() {
  for (;;) {
    while (!atEnd() && std::isspace(static_cast<unsigned char>(peek()))) advance();
    if (peek() != '"') return;
    SourceLocation start = here();
    advance();
    while (!atEnd() && peek() != '"') advance();
    if (atEnd()) fail(start, "unterminated comment (expected a closing '\"')");
    advance();
  }
}

std::string Lexer::lexIdentifierText() {
  size_t start = pos_;
  while (isIdentPart(peek())) advance();
  return std::string(source_.substr(start, pos_ - start));
}

std::string Lexer::lexOperatorText() {
  size_t start = pos_;
  // A bar is its own token ("| a b |"), except the binary operator "||"; the parser
  // splits a "||" back into two bars where declarations expect them.
  if (peek() == '|') {
    advance();
    if (peek() == '|') {
      advance();
      return "||";
    }
    return "|";
  }
  advance();
  while (isOperatorChar(peek()) && peek() != '|') {
    // "x*-1" is "x * -1": a '-' right before a digit starts a negative literal.
    if (peek() == '-' && isDigit(peek(1))) break;
    advance();
  }
  return std::string(source_.substr(start, pos_ - start));
}

std::string Lexer::lexQuoted(SourceLocation start) {
  advance();  // opening quote
  std::string text;
  for (;;) {
    if (atEnd()) fail(start, "unterminated string (expected a closing quote)");
    char c = advance();
    if (c == '\'') {
      if (peek() == '\'') {  // Smalltalk-80 doubled quote
        advance();
        text += '\'';
        continue;
      }
      return text;
    }
    if (c == '\\') {  // SOM escape sequences
      if (atEnd()) fail(start, "unterminated string (expected a closing quote)");
      char e = advance();
      switch (e) {
        case 't':
          text += '\t';
          break;
        case 'b':
          text += '\b';
          break;
        case 'n':
          text += '\n';
          break;
        case 'r':
          text += '\r';
          break;
        case 'f':
          text += '\f';
          break;
        case '0':
          text += '\0';
          break;
        case '\'':
          text += '\'';
          break;
        case '\\':
          text += '\\';
          break;
        default:
          text += '\\';
          text += e;
      }
      continue;
    }
    text += c;
  }
}

Token Lexer::lexString(SourceLocation start) {
  return Token{TokenKind::String, lexQuoted(start), start};
}

Token Lexer::lexNumber(SourceLocation start) {
  size_t begin = pos_;
  while (isDigit(peek())) advance();
  bool isDouble = false;
  if (peek() == 'r' && (std::isalnum(static_cast<unsigned char>(peek(1))))) {
    // Radix integer: 16r1F. Digits may be letters (either case). The radix and every
    // digit are checked here, so that the literal's conversion cannot fail later.
    std::string_view radixText = source_.substr(begin, pos_ - begin);
    int radix = radixText.size() <= 2 ? std::stoi(std::string(radixText)) : 0;
    advance();
    size_t digitsBegin = pos_;
    while (std::isalnum(static_cast<unsigned char>(peek()))) advance();
    std::string text(source_.substr(begin, pos_ - begin));
    if (radix < 2 || radix > 36) fail(start, "the radix of " + text.substr(0, 40) + " must be 2 to 36");
    for (char c : source_.substr(digitsBegin, pos_ - digitsBegin)) {
      int value = isDigit(c) ? c - '0' : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
      if (value >= radix) {
        fail(start, std::string("'") + c + "' is not a digit in radix " + std::to_string(radix) + " (in " +
                        text.substr(0, 40) + ")");
      }
    }
    return Token{TokenKind::Integer, text, start};
  }
  if (peek() == '.' && isDigit(peek(1))) {
    isDouble = true;
    advance();
    while (isDigit(peek())) advance();
  }
  if ((peek() == 'e' || peek() == 'E') &&
      (isDigit(peek(1)) || (peek(1) == '-' && isDigit(peek(2))) || (peek(1) == '+' && isDigit(peek(2))))) {
    isDouble = true;
    advance();
    if (peek() == '-' || peek() == '+') advance();
    while (isDigit(peek())) advance();
  }
  return Token{isDouble ? TokenKind::Double : TokenKind::Integer, std::string(source_.substr(begin, pos_ - begin)),
               start};
}

Token Lexer::lexSymbol(SourceLocation start) {
  // At '#', followed by an identifier, keywords, an operator or a quoted string.
  advance();
  if (peek() == '\'') return Token{TokenKind::Symbol, lexQuoted(here()), start};
  if (isIdentStart(peek())) {
    std::string text = lexIdentifierText();
    while (peek() == ':') {
      advance();
      text += ':';
      if (isIdentStart(peek())) {
        text += lexIdentifierText();
        if (peek() != ':') fail(start, "malformed keyword symbol #" + text + " (expected ':')");
      }
    }
    return Token{TokenKind::Symbol, text, start};
  }
  if (isOperatorChar(peek())) {
    size_t begin = pos_;
    while (isOperatorChar(peek())) advance();
    return Token{TokenKind::Symbol, std::string(source_.substr(begin, pos_ - begin)), start};
  }
  if (peek() == '(' || peek() == '[' || peek() == '{') return Token{TokenKind::Pound, "#", start};
  fail(start, "expected a symbol, '#(' or '#[' after '#'");
}

Token Lexer::next() {
  skipWhitespaceAndComments();
  SourceLocation start = here();
  if (atEnd()) return Token{TokenKind::EndOfInput, "", start};
  char c = peek();
  if (isIdentStart(c)) {
    std::string text = lexIdentifierText();
    if (peek() == ':' && peek(1) != '=') {
      advance();
      return Token{TokenKind::Keyword, text + ":", start};
    }
    return Token{TokenKind::Identifier, text, start};
  }
  if (isDigit(c)) return lexNumber(start);
  switch (c) {
    case '\'':
      return lexString(start);
    case '#':
      return lexSymbol(start);
    case '$': {
      advance();
      if (atEnd()) fail(start, "expected a character after '$'");
      // One UTF-8 encoded character.
      uint32_t cp = 0;
      size_t length = decodeUtf8(source_.substr(pos_), cp);
      if (length == 0) {
        fail(here(), "expected a character after '$' but found byte " + hexByte(static_cast<unsigned char>(peek())) +
                         " (not valid UTF-8)");
      }
      for (size_t i = 0; i < length; i++) advance();
      std::string text;
      utf8::append(text, cp);
      return Token{TokenKind::Character, text, start};
    }
    case ':':
      advance();
      if (peek() == '=') {
        advance();
        return Token{TokenKind::Assign, ":=", start};
      }
      return Token{TokenKind::Colon, ":", start};
    case '^':
      advance();
      return Token{TokenKind::Caret, "^", start};
    case '.':
      advance();
      return Token{TokenKind::Period, ".", start};
    case ';':
      advance();
      return Token{TokenKind::Semicolon, ";", start};
    case '(':
      advance();
      return Token{TokenKind::LeftParen, "(", start};
    case ')':
      advance();
      return Token{TokenKind::RightParen, ")", start};
    case '[':
      advance();
      return Token{TokenKind::LeftBracket, "[", start};
    case ']':
      advance();
      return Token{TokenKind::RightBracket, "]", start};
    case '{':
      advance();
      return Token{TokenKind::LeftBrace, "{", start};
    case '}':
      advance();
      return Token{TokenKind::RightBrace, "}", start};
    default:
      break;
  }
  if (c == '-' && peek(1) == '-' && peek(2) == '-' && peek(3) == '-') {
    while (peek() == '-') advance();
    return Token{TokenKind::Separator, "----", start};
  }
  if (isOperatorChar(c)) return Token{TokenKind::Operator, lexOperatorText(), start};
  fail(start, "unexpected " + describeUnexpected(source_.substr(pos_)));
}

}  // namespace vm
