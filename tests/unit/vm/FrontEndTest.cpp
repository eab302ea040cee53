// Lexer and parser: tokens, precedence, cascades, literals, and located error messages.
#include <doctest/doctest.h>

#include "vm/compiler/Lexer.h"
#include "vm/compiler/Parser.h"

using namespace vm;

namespace {
std::vector<Token> lex(const std::string& s) {
  Lexer l(s, "t.som");
  std::vector<Token> out;
  for (Token t = l.next(); t.kind != TokenKind::EndOfInput; t = l.next()) out.push_back(t);
  return out;
}

std::string compileError(const std::string& source) {
  try {
    Parser p(source, "bad.som");
    p.parseClass();
  } catch (const CompileError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("the lexer tracks lines and columns and decodes literals") {
  auto t = lex("foo: 'it''s\\n' #at:put: $x 16r1F 2.5e3 ---- x:=y");
  REQUIRE(t.size() == 10);
  CHECK(t[0].kind == TokenKind::Keyword);
  CHECK(t[1].kind == TokenKind::String);
  CHECK(t[1].text == "it's\n");
  CHECK(t[2].kind == TokenKind::Symbol);
  CHECK(t[2].text == "at:put:");
  CHECK(t[3].kind == TokenKind::Character);
  CHECK(t[4].kind == TokenKind::Integer);
  CHECK(t[4].text == "16r1F");
  CHECK(t[5].kind == TokenKind::Double);
  CHECK(t[6].kind == TokenKind::Separator);
  CHECK(t[8].kind == TokenKind::Assign);
  auto lines = lex("a\n  b");
  CHECK(lines[1].where.line == 2);
  CHECK(lines[1].where.column == 3);
}

TEST_CASE("radix integers are checked where they are written") {
  CHECK(lex("2r1010 36rZz 16rff")[1].text == "36rZz");
  CHECK(compileError("A = ( x = ( ^ 37r1 ) )") == "bad.som:1:15: the radix of 37r1 must be 2 to 36");
  CHECK(compileError("A = ( x = ( ^ 1r0 ) )") == "bad.som:1:15: the radix of 1r0 must be 2 to 36");
  CHECK(compileError("A = ( x = ( ^ 99999999999999999999r1 ) )") ==
        "bad.som:1:15: the radix of 99999999999999999999r1 must be 2 to 36");
  CHECK(compileError("A = ( x = ( ^ 16r1G ) )") == "bad.som:1:15: 'G' is not a digit in radix 16 (in 16r1G)");
  CHECK(compileError("A = ( x = ( ^ 2r102 ) )") == "bad.som:1:15: '2' is not a digit in radix 2 (in 2r102)");
}

TEST_CASE("a minus before a digit starts a negative literal, not an operator") {
  auto t = lex("3*-2");
  REQUIRE(t.size() == 4);
  CHECK(t[1].text == "*");
  CHECK(t[2].text == "-");
  CHECK(t[3].text == "2");
}

TEST_CASE("the parser builds classes with fields, methods and class side") {
  Parser p("Foo = Bar ( | a b | x = ( ^ a ) + other = primitive ---- | c | new = ( ^ super new ) )", "Foo.som");
  auto cls = p.parseClass();
  CHECK(cls->name == "Foo");
  CHECK(cls->superclassName == "Bar");
  CHECK(cls->instanceFields == std::vector<std::string>{"a", "b"});
  REQUIRE(cls->instanceMethods.size() == 2);
  CHECK(cls->instanceMethods[1]->selector == "+");
  CHECK(cls->instanceMethods[1]->isPrimitive);
  CHECK(cls->classFields == std::vector<std::string>{"c"});
  CHECK(cls->classMethods.size() == 1);
}

TEST_CASE("keyword, binary and unary precedence, and cascades") {
  Parser p("x a: b + c d e: f. y foo; bar: 1; baz", "t");
  auto m = p.parseDoIt("DoIt");
  REQUIRE(m->statements.size() == 2);
  auto* send = static_cast<SendNode*>(m->statements[0].get());
  CHECK(send->selector == "a:e:");
  auto* arg0 = static_cast<SendNode*>(send->arguments[0].get());
  CHECK(arg0->selector == "+");
  CHECK(static_cast<SendNode*>(arg0->arguments[0].get())->selector == "d");
  REQUIRE(m->statements[1]->kind == NodeKind::Cascade);
  auto* cascade = static_cast<CascadeNode*>(m->statements[1].get());
  CHECK(cascade->messages.size() == 3);
  CHECK(cascade->messages[1]->selector == "bar:");
}

TEST_CASE("Smalltalk-80 method sources parse as well as SOM ones") {
  Parser a("at: i put: v\n  | t |\n  t := v.\n  ^ t", "m");
  auto m = a.parseMethod();
  CHECK(m->selector == "at:put:");
  CHECK(m->temporaries.size() == 1);
  Parser b("at: i put: v = ( ^ v )", "m");
  CHECK(b.parseMethod()->selector == "at:put:");
}

TEST_CASE("syntax errors name the file, line, column and what was expected") {
  CHECK(compileError("Foo = ( bar = ( ^ 1 ") == "bad.som:1:21: expected '.' or ')' but found the end of the input");
  CHECK(compileError("Foo = (\n  bar = ( ^ ) )") == "bad.som:2:13: expected an expression but found ')'");
  CHECK(compileError("Foo = ( bar = ( 'abc ) )") == "bad.som:1:17: unterminated string (expected a closing quote)");
  CHECK(compileError("Foo ( )") == "bad.som:1:5: expected '=' after the class name but found '('");
  CHECK(compileError("Foo = ( bar: self = ( ) )") == "bad.som:1:14: 'self' cannot be used as a parameter name");
}
