// Lexer: turns source text into tokens, tracking line and column for error messages.
#pragma once

#include <string>
#include <string_view>

#include "vm/compiler/Token.h"

namespace vm {

class Lexer {
 public:
  Lexer(std::string_view source, std::string fileName);
  // Answers the next token; throws CompileError on malformed input.
  Token next();
  const std::string& fileName() const { return fileName_; }
  std::string_view source() const { return source_; }

 private:
  char peek(size_t ahead = 0) const { return pos_ + ahead < source_.size() ? source_[pos_ + ahead] : '\0'; }
  bool atEnd() const { return pos_ >= source_.size(); }
  char advance();
  SourceLocation here() const { return {line_, column_, int(pos_)}; }
  [[noreturn]] void fail(SourceLocation where, const std::string& message) const;
  void skipWhitespaceAndComments();
  Token lexNumber(SourceLocation start);
  Token lexString(SourceLocation start);
  Token lexSymbol(SourceLocation start);
  std::string lexIdentifierText();
  std::string lexOperatorText();
  std::string lexQuoted(SourceLocation start);

  std::string_view source_;
  std::string fileName_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

bool isOperatorChar(char c);

}  // namespace vm
