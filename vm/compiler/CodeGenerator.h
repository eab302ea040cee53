// CodeGenerator: compiles a parsed method (after closure analysis) into CodeSpecs —
// bytecodes, literals, send sites and nested blocks — open-coding the control structures
// listed in Inlining.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vm/compiler/Ast.h"
#include "vm/compiler/CodeSpec.h"

namespace vm {

struct CompileContext {
  std::string fileName;
  std::string className;                // for messages compiled into the code
  std::vector<std::string> fieldNames;  // the receiver's instance variables, in slot order
  // The first fields the VM maintains (VmMaintained): the code may read but not assign them
  // (only the kernel library, compiled with 0 here, does).
  size_t vmMaintainedFields = 0;
  bool operator==(const CompileContext&) const = default;
};

// Compiles `method`; throws CompileError with file, line and column on invalid code.
std::unique_ptr<CodeSpec> compileMethod(MethodNode& method, const CompileContext& context);

}  // namespace vm
