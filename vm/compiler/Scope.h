// Scope: the variables of a method, a real block (one with its own frame) or an inlined
// block, as resolved by the closure analysis: where each lives (argument, temporary, or a
// slot of a shared temp vector) and what each real block copies from its outer scopes.
#pragma once

#include <climits>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "vm/compiler/Ast.h"

namespace vm {

struct Scope;

struct VariableInfo {
  std::string name;
  bool isArgument = false;  // parameters are read-only; inlined loop variables count as such
  Scope* declaringScope = nullptr;
  SourceLocation where;

  // Collected by the analysis (event numbers, in evaluation order).
  std::vector<int> writes;    // assignments, and implicit initializations of inlined temps
  std::vector<int> captures;  // references from real blocks nested in the home real scope
  bool writtenFromInnerBlock = false;
  bool assigned = false;  // the program assigns it (SOM allows assigning to arguments)

  // Decided by the analysis. A captured variable is *copied* into each closure when it
  // cannot change after capture; otherwise it is *remote*: it lives in a temp vector
  // (an Array) created at its declaring scope's entry and shared by reference.
  bool remote = false;
  int slot = -1;        // argument index, or temp index in the home real scope's frame
  int vectorSlot = -1;  // remote only: index in the declaring scope's temp vector
  // An assigned argument is copied on entry into a temp (or its temp vector slot) and
  // lives there; argumentIndex keeps where the caller put it.
  int argumentIndex = -1;
  bool isFrameArgument() const { return isArgument && argumentIndex < 0 && !remote; }

  bool captured() const { return !captures.empty(); }
};

// What a real block copies into its frame (its first temps) when its closure is created:
// either the value of an outer variable, or an outer scope's temp vector.
struct Capture {
  VariableInfo* variable = nullptr;  // copied value (non-remote)
  Scope* vectorOwner = nullptr;      // or the temp vector of this scope
};

// Lookups by name and by captured variable are hashed: a method may declare tens of
// thousands of temporaries, and compiling it must stay linear in its size.
struct Scope {
  Scope* outer = nullptr;
  bool isReal = false;                                   // the method, or a block compiled to a closure
  BlockNode* block = nullptr;                            // null for the method scope
  int start = 0, end = INT_MAX;                          // range of analysis event numbers it spans
  std::vector<std::unique_ptr<VariableInfo>> variables;  // parameters first, then temps
  std::vector<Scope*> children;                          // scopes directly inside, in creation order

  // Real scopes.
  int numArgs = 0;
  std::vector<VariableInfo*> capturedVariables;  // outer variables referenced inside, in order
  std::vector<Capture> captures;                 // final copied values, in frame order
  int numTemps = 0;                              // copied + named + temp vectors + hidden
  bool needsOuterContext = false;                // does ^ (itself or a nested block)

  // Any scope declaring remote variables owns a temp vector.
  int vectorTempSlot = -1;  // temp of the home real scope holding the vector
  int vectorSize = 0;

  Scope* realScope() {
    Scope* s = this;
    while (!s->isReal) s = s->outer;
    return s;
  }
  VariableInfo* find(const std::string& name) const {
    auto it = byName_.find(name);
    return it == byName_.end() ? nullptr : it->second;
  }
  // Declares [v] in this scope (its name is not declared here yet).
  VariableInfo* add(std::unique_ptr<VariableInfo> v) {
    variables.push_back(std::move(v));
    VariableInfo* added = variables.back().get();
    byName_.emplace(added->name, added);
    return added;
  }
  // Records that [v], declared outside, is referenced inside this real scope.
  void noteCaptured(VariableInfo* v) {
    if (capturedSet_.insert(v).second) capturedVariables.push_back(v);
  }
  // Appends a copied value to this real scope's frame order.
  void addCapture(const Capture& c) {
    captureIndex_.emplace(c.variable ? static_cast<const void*>(c.variable) : c.vectorOwner, int(captures.size()));
    captures.push_back(c);
  }
  // Index of a capture in this real scope's copied values (-1 if absent).
  int captureIndexOfVariable(const VariableInfo* v) const { return captureIndex(v); }
  int captureIndexOfVector(const Scope* owner) const { return captureIndex(owner); }

 private:
  int captureIndex(const void* key) const {
    auto it = captureIndex_.find(key);
    return it == captureIndex_.end() ? -1 : it->second;
  }
  std::unordered_map<std::string, VariableInfo*> byName_;
  std::unordered_set<const VariableInfo*> capturedSet_;
  std::unordered_map<const void*, int> captureIndex_;  // a captured VariableInfo or vector-owning Scope
};

// All scopes of one method; owns them for as long as code generation needs them.
struct ScopeTree {
  std::vector<std::unique_ptr<Scope>> scopes;
  Scope* methodScope = nullptr;
  std::vector<std::pair<int, int>> loops;  // event ranges of inlined loops' repeated code
};

// Resolves names, decides copied vs remote, and assigns slots. `fieldNames` are the
// receiver's instance variables (names that are neither local nor fields are globals).
// Throws CompileError for duplicate declarations.
std::unique_ptr<ScopeTree> analyzeScopes(MethodNode& method, const std::vector<std::string>& fieldNames,
                                         const std::string& fileName);

}  // namespace vm
