// CodeSpec: the compiler's output for one method or block, before it becomes heap objects
// (ClassBuilder::install makes them). Kept separate so the compiler needs no heap and can be tested alone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vm/ObjectLayouts.h"
#include "vm/compiler/Ast.h"

namespace vm {

struct CodeSpec;

struct LiteralSpec {
  enum class Kind { Value, Global, Block };
  Kind kind = Kind::Value;
  LiteralValue value;     // Value: the literal (symbols for selectors too)
  std::string name;       // Global: the global's name (bound to its association)
  bool assigned = false;  // Global: the code assigns it (first at assignedAt)
  SourceLocation assignedAt;
  size_t blockIndex = 0;  // Block: index into CodeSpec::blocks
};

struct SendSiteSpec {
  std::string selector;
  int argumentCount = 0;
};

struct CodeSpec {
  std::string selector;
  bool isBlock = false;
  int numArgs = 0;
  int numTemps = 0;   // including copied values (blocks)
  int numCopied = 0;  // blocks
  int maxStack = 0;
  int64_t flags = 0;  // CodeHeader flags
  bool isPrimitive = false;
  std::string primitiveName;  // explicit <primitive: 'Name'>; empty: Holder>>selector
  QuickMethod::Kind quick = QuickMethod::None;
  unsigned quickField = 0;
  std::vector<uint8_t> bytecodes;
  std::vector<LiteralSpec> literals;
  std::vector<SendSiteSpec> sendSites;
  std::vector<std::unique_ptr<CodeSpec>> blocks;
  std::vector<std::pair<uint16_t, uint16_t>> lineTable;  // (bytecode offset, line)
  // The name of every value of a frame of this code, one for one: the arguments, then the
  // temporaries (copied values, declared and inlined blocks' variables, temp vectors,
  // compiler-made temps), for debuggers and mirrors (see frameValueNames).
  std::vector<std::string> tempNames;
  std::vector<std::pair<int, std::string>> hiddenTemps;  // compiler-made temps: (temp index, purpose)
  std::vector<int> vectorTemps;                          // frame temps holding temp vectors
  std::string source;
  int line = 0;
  int column = 1;  // where the method or block starts
};

}  // namespace vm
