// Token: the lexical units of SOM class files and Smalltalk method sources.
#pragma once

#include <string>

#include "vm/compiler/SourceLocation.h"

namespace vm {

enum class TokenKind {
  Identifier,       // foo
  Keyword,          // foo:
  KeywordSequence,  // foo:bar:  (only inside symbol literals: #foo:bar:)
  Operator,         // + - * / < > = ~ & | , @ % \ and combinations, also a lone '-'
  Integer,          // 42, 16r1F (text holds the digits as written)
  Double,           // 3.14, 1.0e10
  String,           // 'text' (text holds the decoded contents)
  Symbol,           // #foo, #foo:bar:, #+, #'any text' (text holds the symbol's name)
  Character,        // $a (text holds the UTF-8 of the character)
  Assign,           // :=
  Caret,            // ^
  Colon,            // :
  Period,           // .
  Semicolon,        // ;
  Pound,            // # followed by ( or [
  LeftParen,
  RightParen,
  LeftBracket,
  RightBracket,
  LeftBrace,
  RightBrace,
  Separator,  // ---- (four or more dashes)
  EndOfInput,
};

struct Token {
  TokenKind kind = TokenKind::EndOfInput;
  std::string text;
  SourceLocation where;
};

const char* describe(TokenKind kind);

}  // namespace vm
