// Ast: the syntax tree of class definitions and methods, produced by the Parser and
// consumed by the closure analysis and the bytecode compiler.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vm/compiler/SourceLocation.h"

namespace vm {

struct Scope;
struct VariableInfo;

enum class NodeKind {
  Literal,     // number, string, symbol, character, literal array, byte array
  Variable,    // a name: temp, argument, field, global, or self/super/nil/true/false/thisContext
  Assignment,  // var := expr
  Send,        // receiver selector args (super send when the receiver is 'super')
  Cascade,     // receiver msg1; msg2; ...
  Block,       // [:a :b | | t | statements]
  Return,      // ^ expr (only as a statement)
  BraceArray,  // { e1. e2 }  (Smalltalk-80 dynamic array)
};

// The deepest AST the compiler accepts: the analysis and code generation recurse over
// the tree, so deeper input is rejected with a CompileError instead of overflowing the
// C++ stack.
constexpr int kMaxNesting = 256;

struct Node {
  explicit Node(NodeKind k, SourceLocation w) : kind(k), where(w) {}
  virtual ~Node() = default;
  NodeKind kind;
  SourceLocation where;
  int height = 1;  // 1 + the height of the tallest child (set by the parser)
};
using NodePtr = std::unique_ptr<Node>;

// A literal's value, as written. Literal arrays nest.
struct LiteralValue {
  enum class Kind { Integer, Double, String, Symbol, Character, Array, ByteArray, Nil, True, False };
  Kind kind = Kind::Nil;
  std::string text;                    // integer digits (with sign, radix), string, symbol, UTF-8 char
  double number = 0;                   // for Double
  std::vector<LiteralValue> elements;  // for Array
  std::vector<uint8_t> bytes;          // for ByteArray
};

struct LiteralNode : Node {
  LiteralNode(SourceLocation w, LiteralValue v) : Node(NodeKind::Literal, w), value(std::move(v)) {}
  LiteralValue value;
};

struct VariableNode : Node {
  VariableNode(SourceLocation w, std::string n) : Node(NodeKind::Variable, w), name(std::move(n)) {}
  std::string name;
  VariableInfo* binding = nullptr;  // set by the closure analysis for temps and arguments
};

struct AssignmentNode : Node {
  AssignmentNode(SourceLocation w, std::unique_ptr<VariableNode> v, NodePtr e)
      : Node(NodeKind::Assignment, w), variable(std::move(v)), value(std::move(e)) {}
  std::unique_ptr<VariableNode> variable;
  NodePtr value;
};

struct SendNode : Node {
  SendNode(SourceLocation w) : Node(NodeKind::Send, w) {}
  ~SendNode() override;
  NodePtr receiver;  // null inside a cascade: the cascade's receiver
  std::string selector;
  std::vector<NodePtr> arguments;
  bool isSuper() const;
};

struct CascadeNode : Node {
  CascadeNode(SourceLocation w) : Node(NodeKind::Cascade, w) {}
  NodePtr receiver;
  std::vector<std::unique_ptr<SendNode>> messages;  // receivers are null
};

struct BlockNode : Node {
  BlockNode(SourceLocation w) : Node(NodeKind::Block, w) {}
  std::vector<std::string> parameters;
  std::vector<SourceLocation> parameterLocations;
  std::vector<std::string> temporaries;
  std::vector<SourceLocation> temporaryLocations;
  std::vector<NodePtr> statements;
  SourceLocation end;
  Scope* scope = nullptr;  // set by the closure analysis
  bool inlined = false;    // compiled into the enclosing code (ifTrue:, whileTrue:, ...)
};

struct ReturnNode : Node {
  ReturnNode(SourceLocation w, NodePtr e) : Node(NodeKind::Return, w), value(std::move(e)) {}
  NodePtr value;
};

struct BraceArrayNode : Node {
  BraceArrayNode(SourceLocation w) : Node(NodeKind::BraceArray, w) {}
  std::vector<NodePtr> elements;
};

struct MethodNode {
  std::string selector;
  std::vector<std::string> parameters;
  std::vector<SourceLocation> parameterLocations;
  std::vector<std::string> temporaries;
  std::vector<SourceLocation> temporaryLocations;
  std::vector<std::string> pragmas;  // e.g. "unwindProtect", "exceptionHandler"
  bool isPrimitive = false;          // 'selector = primitive' or <primitive>
  std::string primitiveName;         // <primitive: 'name'>; empty: Holder>>selector
  std::vector<NodePtr> statements;
  SourceLocation where;
  std::string source;  // the method's source text, for tools and mirrors
  Scope* scope = nullptr;
};

struct ClassNode {
  std::string name;
  std::string superclassName;  // empty: Object; "nil": no superclass
  std::vector<std::string> instanceFields;
  std::vector<std::unique_ptr<MethodNode>> instanceMethods;
  std::vector<std::string> classFields;
  std::vector<std::unique_ptr<MethodNode>> classMethods;
  SourceLocation where;
  std::string fileName;
};

// Receiver chains can be very long ("1 + 1 + 1 ..."): destroy them iteratively.
inline SendNode::~SendNode() {
  NodePtr r = std::move(receiver);
  while (r && r->kind == NodeKind::Send) {
    NodePtr next = std::move(static_cast<SendNode*>(r.get())->receiver);
    r = std::move(next);
  }
}

inline bool SendNode::isSuper() const {
  return receiver && receiver->kind == NodeKind::Variable &&
         static_cast<const VariableNode*>(receiver.get())->name == "super";
}

}  // namespace vm
