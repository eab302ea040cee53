// Parser: recursive descent over the SOM class-file grammar (plus cascades, literal and
// byte arrays, brace arrays, characters, pragmas) and over Smalltalk-80 method sources.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "vm/compiler/Ast.h"
#include "vm/compiler/Lexer.h"

namespace vm {

class Parser {
 public:
  Parser(std::string_view source, std::string fileName);

  // A whole class file: "Name = Super ( |fields| methods ---- |fields| methods )".
  std::unique_ptr<ClassNode> parseClass();
  // One method, either SOM style ("foo: x = ( ^x )") or Smalltalk-80 style ("foo: x ^x").
  std::unique_ptr<MethodNode> parseMethod();
  // A sequence of statements with optional temporaries, compiled as a unary method
  // (used to evaluate expressions: "| a | a := 3. a + 4").
  std::unique_ptr<MethodNode> parseDoIt(const std::string& selector);

 private:
  const Token& current() const { return token_; }
  bool at(TokenKind k) const { return token_.kind == k; }
  bool atOperator(std::string_view op) const { return token_.kind == TokenKind::Operator && token_.text == op; }
  bool atIdentifier(std::string_view name) const { return token_.kind == TokenKind::Identifier && token_.text == name; }
  Token take();
  Token expect(TokenKind k, const char* what);
  void expectOperator(std::string_view op, const char* what);
  [[noreturn]] void fail(const std::string& expected) const;
  [[noreturn]] void failAt(SourceLocation where, const std::string& message) const;

  std::unique_ptr<MethodNode> parseMethodDefinition();
  void parsePattern(MethodNode& m);
  void parseMethodBody(MethodNode& m, TokenKind terminator);
  void parseTemporaries(std::vector<std::string>& names, std::vector<SourceLocation>& where);
  void parsePragma(MethodNode& m);
  void parseStatements(std::vector<NodePtr>& out, TokenKind terminator);
  NodePtr parseStatement();
  NodePtr parseExpression();
  NodePtr parseCascadeOrSend();
  NodePtr parsePrimary();
  NodePtr parseUnaryTail(NodePtr receiver);
  NodePtr parseBinaryTail(NodePtr receiver);
  NodePtr parseKeywordTail(NodePtr receiver);
  NodePtr parseBinaryOperand();
  std::unique_ptr<BlockNode> parseBlock();
  NodePtr parseLiteral();
  LiteralValue parseNumberLiteral(bool negative);
  LiteralValue parseLiteralArray();
  LiteralValue parseByteArray();
  LiteralValue parseLiteralArrayElement();
  std::unique_ptr<SendNode> parseCascadePart();

  // Bounds recursion and tree height (see kMaxNesting).
  struct NestingGuard {
    NestingGuard(Parser& p);
    ~NestingGuard() { parser.depth_--; }
    Parser& parser;
  };
  NodePtr finish(NodePtr node, std::initializer_list<const Node*> children);
  void checkHeight(const Node* node);
  static int cascadeHeight(const CascadeNode& c);

  Lexer lexer_;
  int depth_ = 0;
  Token token_;
  Token previous_;
  std::string_view source_;
};

}  // namespace vm
