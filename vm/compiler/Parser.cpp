// Parser: see Parser.h. Each parse function consumes exactly its construct.
#include "vm/compiler/Parser.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace vm {

namespace {
std::string shown(const Token& t) {
  switch (t.kind) {
    case TokenKind::EndOfInput:
      return "the end of the input";
    case TokenKind::String:
      return "string '" + t.text + "'";
    case TokenKind::Identifier:
    case TokenKind::Keyword:
    case TokenKind::KeywordSequence:
    case TokenKind::Operator:
    case TokenKind::Integer:
    case TokenKind::Double:
    case TokenKind::Symbol:
    case TokenKind::Character:
      return std::string(describe(t.kind)) + " '" + t.text + "'";
    default:
      return describe(t.kind);  // punctuation: "')'"
  }
}
bool isReservedName(const std::string& n) {
  return n == "self" || n == "super" || n == "nil" || n == "true" || n == "false" || n == "thisContext";
}
}  // namespace

Parser::NestingGuard::NestingGuard(Parser& p) : parser(p) {
  if (++parser.depth_ > kMaxNesting) {
    parser.depth_--;
    parser.failAt(parser.token_.where,
                  "expression nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
  }
}

void Parser::checkHeight(const Node* node) {
  if (node->height > kMaxNesting) {
    failAt(node->where, "expression nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
  }
}

int Parser::cascadeHeight(const CascadeNode& c) {
  int h = c.receiver ? c.receiver->height : 0;
  for (const auto& m : c.messages) h = std::max(h, m->height);
  return h + 1;
}

NodePtr Parser::finish(NodePtr node, std::initializer_list<const Node*> children) {
  int h = 0;
  for (const Node* c : children) {
    if (c && c->height > h) h = c->height;
  }
  node->height = h + 1;
  checkHeight(node.get());
  return node;
}

Parser::Parser(std::string_view source, std::string fileName) : lexer_(source, std::move(fileName)), source_(source) {
  token_ = lexer_.next();
}

Token Parser::take() {
  previous_ = token_;
  token_ = lexer_.next();
  return previous_;
}

void Parser::fail(const std::string& expected) const {
  throw CompileError(lexer_.fileName(), token_.where, "expected " + expected + " but found " + shown(token_));
}

void Parser::failAt(SourceLocation where, const std::string& message) const {
  throw CompileError(lexer_.fileName(), where, message);
}

Token Parser::expect(TokenKind k, const char* what) {
  if (!at(k)) fail(what);
  return take();
}

void Parser::expectOperator(std::string_view op, const char* what) {
  if (!atOperator(op)) fail(what);
  take();
}

// ---- classes ---------------------------------------------------------------------------

std::unique_ptr<ClassNode> Parser::parseClass() {
  auto cls = std::make_unique<ClassNode>();
  cls->fileName = lexer_.fileName();
  cls->where = token_.where;
  cls->name = expect(TokenKind::Identifier, "a class name").text;
  expectOperator("=", "'=' after the class name");
  if (at(TokenKind::Identifier)) cls->superclassName = take().text;
  expect(TokenKind::LeftParen, "'(' to start the class body");
  std::vector<SourceLocation> fieldLocations;
  if (atOperator("|")) parseTemporaries(cls->instanceFields, fieldLocations);
  while (!at(TokenKind::Separator) && !at(TokenKind::RightParen)) {
    if (at(TokenKind::EndOfInput)) fail("a method definition or ')' to end the class");
    cls->instanceMethods.push_back(parseMethodDefinition());
  }
  if (at(TokenKind::Separator)) {
    take();
    if (atOperator("|")) parseTemporaries(cls->classFields, fieldLocations);
    while (!at(TokenKind::RightParen)) {
      if (at(TokenKind::EndOfInput)) fail("a class-side method definition or ')' to end the class");
      cls->classMethods.push_back(parseMethodDefinition());
    }
  }
  expect(TokenKind::RightParen, "')' to end the class body");
  if (!at(TokenKind::EndOfInput)) fail("the end of the file after the class definition");
  return cls;
}

std::unique_ptr<MethodNode> Parser::parseMethodDefinition() {
  auto m = std::make_unique<MethodNode>();
  m->where = token_.where;
  int start = token_.where.offset;
  parsePattern(*m);
  expectOperator("=", "'=' after the method pattern");
  if (atIdentifier("primitive")) {
    take();
    m->isPrimitive = true;
  } else {
    expect(TokenKind::LeftParen, "'(' or 'primitive' to start the method body");
    parseMethodBody(*m, TokenKind::RightParen);
    expect(TokenKind::RightParen, "')' to end the method body");
  }
  size_t end = size_t(previous_.where.offset) + previous_.text.size();
  m->source = std::string(source_.substr(size_t(start), end - size_t(start)));
  return m;
}

void Parser::parsePattern(MethodNode& m) {
  auto param = [&]() {
    Token t = expect(TokenKind::Identifier, "a parameter name");
    if (isReservedName(t.text)) failAt(t.where, "'" + t.text + "' cannot be used as a parameter name");
    m.parameters.push_back(t.text);
    m.parameterLocations.push_back(t.where);
  };
  if (at(TokenKind::Identifier)) {
    m.selector = take().text;
  } else if (at(TokenKind::Operator)) {
    m.selector = take().text;
    param();
  } else if (at(TokenKind::Keyword)) {
    while (at(TokenKind::Keyword)) {
      m.selector += take().text;
      param();
    }
  } else {
    fail("a method pattern (unary selector, binary operator or keywords)");
  }
}

void Parser::parseTemporaries(std::vector<std::string>& names, std::vector<SourceLocation>& where) {
  if (atOperator("||")) {  // an empty declaration
    take();
    return;
  }
  expectOperator("|", "'|'");
  while (at(TokenKind::Identifier)) {
    Token t = take();
    if (isReservedName(t.text)) failAt(t.where, "'" + t.text + "' cannot be used as a variable name");
    names.push_back(t.text);
    where.push_back(t.where);
  }
  expectOperator("|", "'|' to end the variable declarations");
}

void Parser::parsePragma(MethodNode& m) {
  expectOperator("<", "'<'");
  std::string name;
  if (at(TokenKind::Identifier)) {
    name = take().text;
  } else {
    while (at(TokenKind::Keyword)) {
      name += take().text;
      if (at(TokenKind::String) || at(TokenKind::Symbol)) {
        if (name == "primitive:") m.primitiveName = token_.text;
        take();
      } else if (at(TokenKind::Integer) || at(TokenKind::Identifier)) {
        take();
      } else {
        fail("a pragma argument");
      }
    }
    if (name.empty()) fail("a pragma name");
  }
  if (!atOperator(">")) fail("'>' to end the pragma");
  take();
  if (name == "primitive" || name == "primitive:") m.isPrimitive = true;
  m.pragmas.push_back(name);
}

void Parser::parseMethodBody(MethodNode& m, TokenKind terminator) {
  while (atOperator("<")) parsePragma(m);
  if (atOperator("|") || atOperator("||")) parseTemporaries(m.temporaries, m.temporaryLocations);
  while (atOperator("<")) parsePragma(m);
  parseStatements(m.statements, terminator);
}

// ---- methods and do-its --------------------------------------------------------------

std::unique_ptr<MethodNode> Parser::parseMethod() {
  auto m = std::make_unique<MethodNode>();
  m->where = token_.where;
  parsePattern(*m);
  if (atOperator("=")) {
    // SOM style: pattern = ( body ) or pattern = primitive.
    take();
    if (atIdentifier("primitive")) {
      take();
      m->isPrimitive = true;
    } else {
      expect(TokenKind::LeftParen, "'(' or 'primitive' to start the method body");
      parseMethodBody(*m, TokenKind::RightParen);
      expect(TokenKind::RightParen, "')' to end the method body");
    }
  } else {
    parseMethodBody(*m, TokenKind::EndOfInput);
  }
  if (!at(TokenKind::EndOfInput)) fail("the end of the method");
  m->source = std::string(source_);
  return m;
}

std::unique_ptr<MethodNode> Parser::parseDoIt(const std::string& selector) {
  auto m = std::make_unique<MethodNode>();
  m->where = token_.where;
  m->selector = selector;
  parseMethodBody(*m, TokenKind::EndOfInput);
  if (!at(TokenKind::EndOfInput)) fail("the end of the expression");
  m->source = std::string(source_);
  return m;
}

// ---- statements and expressions -----------------------------------------------------

void Parser::parseStatements(std::vector<NodePtr>& out, TokenKind terminator) {
  while (!at(terminator)) {
    if (at(TokenKind::EndOfInput)) {
      if (terminator == TokenKind::EndOfInput) return;
      fail(terminator == TokenKind::RightBracket ? "']' to end the block" : "')' to end the method body");
    }
    out.push_back(parseStatement());
    if (at(TokenKind::Period)) {
      while (at(TokenKind::Period)) take();
      continue;
    }
    if (!at(terminator)) fail(std::string("'.' or ") + describe(terminator));
  }
}

NodePtr Parser::parseStatement() {
  if (at(TokenKind::Caret)) {
    SourceLocation where = take().where;
    NodePtr value = parseExpression();
    const Node* v = value.get();
    return finish(std::make_unique<ReturnNode>(where, std::move(value)), {v});
  }
  return parseExpression();
}

NodePtr Parser::parseExpression() {
  NestingGuard guard(*this);
  if (at(TokenKind::Identifier)) {
    // Look ahead for ':=' without a second token of lookahead: parse the primary, then
    // decide.
    Token name = token_;
    take();
    if (at(TokenKind::Assign)) {
      SourceLocation where = take().where;
      if (isReservedName(name.text)) failAt(name.where, "cannot assign to '" + name.text + "'");
      auto var = std::make_unique<VariableNode>(name.where, name.text);
      NodePtr value = parseExpression();
      const Node* v = value.get();
      return finish(std::make_unique<AssignmentNode>(where, std::move(var), std::move(value)), {v});
    }
    NodePtr receiver = std::make_unique<VariableNode>(name.where, name.text);
    NodePtr expr = parseKeywordTail(parseBinaryTail(parseUnaryTail(std::move(receiver))));
    if (!at(TokenKind::Semicolon)) return expr;
    // Cascade.
    if (expr->kind != NodeKind::Send) failAt(token_.where, "a cascade ';' must follow a message send");
    auto first = std::unique_ptr<SendNode>(static_cast<SendNode*>(expr.release()));
    auto cascade = std::make_unique<CascadeNode>(first->where);
    cascade->receiver = std::move(first->receiver);
    cascade->messages.push_back(std::move(first));
    while (at(TokenKind::Semicolon)) {
      take();
      cascade->messages.push_back(parseCascadePart());
    }
    cascade->height = cascadeHeight(*cascade);
    checkHeight(cascade.get());
    return cascade;
  }
  return parseCascadeOrSend();
}

NodePtr Parser::parseCascadeOrSend() {
  NodePtr expr = parseKeywordTail(parseBinaryTail(parseUnaryTail(parsePrimary())));
  if (!at(TokenKind::Semicolon)) return expr;
  if (expr->kind != NodeKind::Send) failAt(token_.where, "a cascade ';' must follow a message send");
  auto first = std::unique_ptr<SendNode>(static_cast<SendNode*>(expr.release()));
  auto cascade = std::make_unique<CascadeNode>(first->where);
  cascade->receiver = std::move(first->receiver);
  cascade->messages.push_back(std::move(first));
  while (at(TokenKind::Semicolon)) {
    take();
    cascade->messages.push_back(parseCascadePart());
  }
  cascade->height = cascadeHeight(*cascade);
  checkHeight(cascade.get());
  return cascade;
}

std::unique_ptr<SendNode> Parser::parseCascadePart() {
  // A message without receiver: unary, binary or keyword (with the usual precedence tail).
  auto placeholder = std::make_unique<VariableNode>(token_.where, "<cascade>");
  NodePtr expr;
  if (at(TokenKind::Identifier)) {
    expr = parseKeywordTail(parseBinaryTail(parseUnaryTail(std::move(placeholder))));
  } else if (at(TokenKind::Operator)) {
    expr = parseKeywordTail(parseBinaryTail(std::move(placeholder)));
  } else if (at(TokenKind::Keyword)) {
    expr = parseKeywordTail(std::move(placeholder));
  } else {
    fail("a message after ';'");
  }
  // Find the innermost send whose receiver is the placeholder and detach it.
  auto* send = static_cast<SendNode*>(expr.get());
  std::vector<SendNode*> chain;
  SendNode* s = send;
  while (s->receiver && s->receiver->kind == NodeKind::Send) {
    chain.push_back(s);
    s = static_cast<SendNode*>(s->receiver.get());
  }
  if (chain.empty()) {
    send->receiver.reset();
    return std::unique_ptr<SendNode>(static_cast<SendNode*>(expr.release()));
  }
  // "a foo; bar baz" — the cascade part is "bar" with "baz" sent to its result: only the
  // first message goes to the cascade receiver. Standard Smalltalk treats "; bar baz" as
  // sending baz to (receiver bar); represent that by keeping the chain with a null root.
  s->receiver.reset();
  return std::unique_ptr<SendNode>(static_cast<SendNode*>(expr.release()));
}

NodePtr Parser::parseUnaryTail(NodePtr receiver) {
  while (at(TokenKind::Identifier)) {
    Token t = take();
    auto send = std::make_unique<SendNode>(t.where);
    int h = receiver->height;  // receiver chains compile iteratively: no extra level
    send->receiver = std::move(receiver);
    send->selector = t.text;
    send->height = h;
    receiver = std::move(send);
  }
  return receiver;
}

NodePtr Parser::parseBinaryOperand() {
  return parseUnaryTail(parsePrimary());
}

NodePtr Parser::parseBinaryTail(NodePtr receiver) {
  while (at(TokenKind::Operator)) {
    Token t = take();
    auto send = std::make_unique<SendNode>(t.where);
    int h = receiver->height;
    send->receiver = std::move(receiver);
    send->selector = t.text;
    send->arguments.push_back(parseBinaryOperand());
    send->height = std::max(h, send->arguments.back()->height + 1);
    checkHeight(send.get());
    receiver = std::move(send);
  }
  return receiver;
}

NodePtr Parser::parseKeywordTail(NodePtr receiver) {
  if (!at(TokenKind::Keyword)) return receiver;
  auto send = std::make_unique<SendNode>(token_.where);
  int h = receiver->height;
  send->receiver = std::move(receiver);
  while (at(TokenKind::Keyword)) {
    send->selector += take().text;
    send->arguments.push_back(parseBinaryTail(parseBinaryOperand()));
    h = std::max(h, send->arguments.back()->height + 1);
  }
  send->height = h;
  checkHeight(send.get());
  return send;
}

NodePtr Parser::parsePrimary() {
  NestingGuard guard(*this);
  switch (token_.kind) {
    case TokenKind::Identifier: {
      Token t = take();
      return std::make_unique<VariableNode>(t.where, t.text);
    }
    case TokenKind::LeftParen: {
      take();
      NodePtr e = parseExpression();
      expect(TokenKind::RightParen, "')' to close the parenthesized expression");
      return e;
    }
    case TokenKind::LeftBracket:
      return parseBlock();
    case TokenKind::LeftBrace: {
      auto arr = std::make_unique<BraceArrayNode>(take().where);
      while (!at(TokenKind::RightBrace)) {
        if (at(TokenKind::EndOfInput)) fail("'}' to end the brace array");
        arr->elements.push_back(parseExpression());
        arr->height = std::max(arr->height, arr->elements.back()->height + 1);
        checkHeight(arr.get());
        if (at(TokenKind::Period)) {
          take();
        } else if (!at(TokenKind::RightBrace)) {
          fail("'.' or '}' in the brace array");
        }
      }
      take();
      return arr;
    }
    default:
      return parseLiteral();
  }
}

std::unique_ptr<BlockNode> Parser::parseBlock() {
  NestingGuard guard(*this);
  auto block = std::make_unique<BlockNode>(expect(TokenKind::LeftBracket, "'['").where);
  if (at(TokenKind::Colon)) {
    while (at(TokenKind::Colon)) {
      take();
      Token t = expect(TokenKind::Identifier, "a block parameter name after ':'");
      if (isReservedName(t.text)) failAt(t.where, "'" + t.text + "' cannot be used as a parameter name");
      block->parameters.push_back(t.text);
      block->parameterLocations.push_back(t.where);
    }
    if (atOperator("||")) {
      // "[:x || t | ...]": the parameters' bar followed by the temporaries' bar.
      take();
      while (at(TokenKind::Identifier)) {
        Token t = take();
        block->temporaries.push_back(t.text);
        block->temporaryLocations.push_back(t.where);
      }
      expectOperator("|", "'|' to end the block temporaries");
    } else if (atOperator("|")) {
      take();
    } else if (!at(TokenKind::RightBracket)) {
      fail("'|' after the block parameters");
    }
  }
  if (atOperator("|") || atOperator("||")) parseTemporaries(block->temporaries, block->temporaryLocations);
  parseStatements(block->statements, TokenKind::RightBracket);
  for (const auto& st : block->statements) block->height = std::max(block->height, st->height + 1);
  checkHeight(block.get());
  block->end = token_.where;
  take();
  return block;
}

// ---- literals -------------------------------------------------------------------------

LiteralValue Parser::parseNumberLiteral(bool negative) {
  LiteralValue v;
  Token t = take();
  if (t.kind == TokenKind::Double) {
    v.kind = LiteralValue::Kind::Double;
    errno = 0;
    v.number = std::strtod(t.text.c_str(), nullptr);
    if (negative) v.number = -v.number;
    return v;
  }
  v.kind = LiteralValue::Kind::Integer;
  v.text = (negative ? "-" : "") + t.text;
  return v;
}

NodePtr Parser::parseLiteral() {
  SourceLocation where = token_.where;
  LiteralValue v;
  switch (token_.kind) {
    case TokenKind::Integer:
    case TokenKind::Double:
      v = parseNumberLiteral(false);
      break;
    case TokenKind::Operator:
      if (token_.text == "-") {
        take();
        if (!at(TokenKind::Integer) && !at(TokenKind::Double)) fail("a number after '-'");
        v = parseNumberLiteral(true);
        break;
      }
      fail("an expression");
    case TokenKind::String:
      v.kind = LiteralValue::Kind::String;
      v.text = take().text;
      break;
    case TokenKind::Symbol:
      v.kind = LiteralValue::Kind::Symbol;
      v.text = take().text;
      break;
    case TokenKind::Character:
      v.kind = LiteralValue::Kind::Character;
      v.text = take().text;
      break;
    case TokenKind::Pound:
      take();
      if (at(TokenKind::LeftParen)) {
        v = parseLiteralArray();
      } else if (at(TokenKind::LeftBracket)) {
        v = parseByteArray();
      } else {
        fail("'(' or '[' after '#'");
      }
      break;
    default:
      fail("an expression");
  }
  return std::make_unique<LiteralNode>(where, std::move(v));
}

LiteralValue Parser::parseLiteralArray() {
  NestingGuard guard(*this);
  expect(TokenKind::LeftParen, "'('");
  LiteralValue v;
  v.kind = LiteralValue::Kind::Array;
  while (!at(TokenKind::RightParen)) {
    if (at(TokenKind::EndOfInput)) fail("')' to end the literal array");
    v.elements.push_back(parseLiteralArrayElement());
  }
  take();
  return v;
}

LiteralValue Parser::parseByteArray() {
  expect(TokenKind::LeftBracket, "'['");
  LiteralValue v;
  v.kind = LiteralValue::Kind::ByteArray;
  while (!at(TokenKind::RightBracket)) {
    Token t = expect(TokenKind::Integer, "a byte value (0-255) or ']'");
    char* end = nullptr;
    long n = std::strtol(t.text.c_str(), &end, 10);
    if (*end != '\0' || n < 0 || n > 255) failAt(t.where, "byte array elements must be integers 0-255");
    v.bytes.push_back(uint8_t(n));
  }
  take();
  return v;
}

LiteralValue Parser::parseLiteralArrayElement() {
  LiteralValue v;
  switch (token_.kind) {
    case TokenKind::Integer:
    case TokenKind::Double:
      return parseNumberLiteral(false);
    case TokenKind::Operator:
      if (token_.text == "-") {
        take();
        if (at(TokenKind::Integer) || at(TokenKind::Double)) return parseNumberLiteral(true);
        v.kind = LiteralValue::Kind::Symbol;
        v.text = "-";
        return v;
      }
      v.kind = LiteralValue::Kind::Symbol;
      v.text = take().text;
      return v;
    case TokenKind::String:
      v.kind = LiteralValue::Kind::String;
      v.text = take().text;
      return v;
    case TokenKind::Symbol:
      v.kind = LiteralValue::Kind::Symbol;
      v.text = take().text;
      return v;
    case TokenKind::Character:
      v.kind = LiteralValue::Kind::Character;
      v.text = take().text;
      return v;
    case TokenKind::Identifier: {
      Token t = take();
      if (t.text == "nil")
        v.kind = LiteralValue::Kind::Nil;
      else if (t.text == "true")
        v.kind = LiteralValue::Kind::True;
      else if (t.text == "false")
        v.kind = LiteralValue::Kind::False;
      else {
        v.kind = LiteralValue::Kind::Symbol;
        v.text = t.text;
      }
      return v;
    }
    case TokenKind::Keyword: {
      // at:put: inside a literal array is one symbol when the keywords touch.
      Token t = take();
      v.kind = LiteralValue::Kind::Symbol;
      v.text = t.text;
      while (at(TokenKind::Keyword) && token_.where.offset == t.where.offset + int(t.text.size())) {
        t = take();
        v.text += t.text;
      }
      return v;
    }
    case TokenKind::LeftParen:
      return parseLiteralArray();
    case TokenKind::Pound:
      take();
      if (at(TokenKind::LeftParen)) return parseLiteralArray();
      if (at(TokenKind::LeftBracket)) return parseByteArray();
      fail("'(' or '[' after '#'");
    case TokenKind::LeftBracket:
      return parseByteArray();
    default:
      fail("a literal array element or ')'");
  }
}

}  // namespace vm
