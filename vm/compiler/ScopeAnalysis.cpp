// ScopeAnalysis: three passes over a method.
//   1. Resolve every variable reference, recording writes and captures, which blocks are
//      inlined, and which blocks do a non-local return. Events are numbered in evaluation
//      order (an assignment's write comes after its value, so "f := [f value]" captures
//      f before writing it), and scopes and loops record the numbers they span.
//   2. Decide for each captured variable whether closures may copy it or must share it
//      through a temp vector.
//   3. Assign argument, temp and temp-vector slots, and each real block's copied values.
#include <algorithm>
#include <unordered_set>

#include "vm/compiler/Inlining.h"
#include "vm/compiler/Scope.h"

namespace vm {

namespace {

bool isPseudoVariable(const std::string& n) {
  return n == "self" || n == "super" || n == "nil" || n == "true" || n == "false" || n == "thisContext" ||
         n == "<cascade>";
}

class Analysis {
 public:
  explicit Analysis(const std::string& fileName) : fileName_(fileName), tree_(std::make_unique<ScopeTree>()) {}

  std::unique_ptr<ScopeTree> run(MethodNode& m) {
    Scope* s = newScope(nullptr, true, nullptr, 0, INT_MAX);
    tree_->methodScope = s;
    m.scope = s;
    for (size_t i = 0; i < m.parameters.size(); i++) {
      declare(s, m.parameters[i], m.parameterLocations[i], true);
    }
    s->numArgs = int(m.parameters.size());
    for (size_t i = 0; i < m.temporaries.size(); i++) {
      declare(s, m.temporaries[i], m.temporaryLocations[i], false);
    }
    for (auto& st : m.statements) visit(st.get(), s);
    decideRemote();
    assignSlots();
    return std::move(tree_);
  }

 private:
  Scope* newScope(Scope* outer, bool real, BlockNode* block, int start, int end) {
    tree_->scopes.push_back(std::make_unique<Scope>());
    Scope* s = tree_->scopes.back().get();
    s->outer = outer;
    s->isReal = real;
    s->block = block;
    s->start = start;
    s->end = end;
    if (outer) outer->children.push_back(s);
    return s;
  }

  VariableInfo* declare(Scope* s, const std::string& name, SourceLocation where, bool argument) {
    if (s->find(name)) {
      throw CompileError(fileName_, where, "'" + name + "' is declared twice in the same scope");
    }
    auto v = std::make_unique<VariableInfo>();
    v->name = name;
    v->isArgument = argument;
    v->declaringScope = s;
    v->where = where;
    VariableInfo* added = s->add(std::move(v));
    all_.push_back(added);
    return added;
  }

  VariableInfo* resolve(const std::string& name, Scope* from) {
    for (Scope* s = from; s; s = s->outer) {
      if (VariableInfo* v = s->find(name)) return v;
    }
    return nullptr;
  }

  int next() { return ++seq_; }

  void noteReference(VariableInfo* v, Scope* from, int /*offset*/) {
    Scope* home = v->declaringScope->realScope();
    Scope* here = from->realScope();
    if (home == here) return;
    v->captures.push_back(next());
    // Every real scope between the reference and the home scope must carry the variable.
    for (Scope* s = here; s != home; s = s->outer->realScope()) s->noteCaptured(v);
  }

  void visitVariable(VariableNode* var, Scope* s) {
    if (isPseudoVariable(var->name)) return;
    if (VariableInfo* v = resolve(var->name, s)) {
      var->binding = v;
      noteReference(v, s, var->where.offset);
    }
  }

  void visit(Node* n, Scope* s) {
    if (!n) return;
    switch (n->kind) {
      case NodeKind::Literal:
        return;
      case NodeKind::Variable:
        return visitVariable(static_cast<VariableNode*>(n), s);
      case NodeKind::Assignment: {
        auto* a = static_cast<AssignmentNode*>(n);
        visit(a->value.get(), s);
        VariableNode* var = a->variable.get();
        if (VariableInfo* v = resolve(var->name, s)) {
          var->binding = v;
          v->assigned = true;
          v->writes.push_back(next());
          if (v->declaringScope->realScope() != s->realScope()) v->writtenFromInnerBlock = true;
          noteReference(v, s, var->where.offset);
        }
        return;
      }
      case NodeKind::Return:
        visit(static_cast<ReturnNode*>(n)->value.get(), s);
        for (Scope* r = s->realScope(); r->block; r = r->outer->realScope()) r->needsOuterContext = true;
        return;
      case NodeKind::BraceArray:
        for (auto& e : static_cast<BraceArrayNode*>(n)->elements) visit(e.get(), s);
        return;
      case NodeKind::Cascade: {
        auto* c = static_cast<CascadeNode*>(n);
        visit(c->receiver.get(), s);
        for (auto& m : c->messages) visitCascadePart(m.get(), s);
        return;
      }
      case NodeKind::Send:
        return visitSend(static_cast<SendNode*>(n), s);
      case NodeKind::Block:
        return visitBlock(static_cast<BlockNode*>(n), s, false, nullptr);
    }
  }

  // A cascade part ("; bar baz: [...]") is a chain of sends whose innermost receiver is
  // the cascade's: the code generator never inlines in it (cascadePart), so neither does
  // the analysis; its blocks are closures. Only the arguments are expressions, innermost first.
  void visitCascadePart(SendNode* part, Scope* s) {
    std::vector<SendNode*> chain;
    for (SendNode* m = part; m; m = static_cast<SendNode*>(m->receiver.get())) chain.push_back(m);
    for (size_t i = chain.size(); i-- > 0;) {
      for (auto& a : chain[i]->arguments) visit(a.get(), s);
    }
  }

  void visitSend(SendNode* send, Scope* s) {
    InlineKind kind = classifyInline(*send);
    if (kind == InlineKind::None) {
      // Receiver chains iteratively, innermost first (evaluation order).
      std::vector<SendNode*> chain{send};
      for (Node* r = send->receiver.get(); r && r->kind == NodeKind::Send;) {
        auto* inner = static_cast<SendNode*>(r);
        if (classifyInline(*inner) != InlineKind::None) break;
        chain.push_back(inner);
        r = inner->receiver.get();
      }
      Node* root = chain.back()->receiver.get();
      if (root && root->kind == NodeKind::Send) {
        visitSend(static_cast<SendNode*>(root), s);
      } else {
        visit(root, s);
      }
      for (size_t i = chain.size(); i-- > 0;) {
        for (auto& a : chain[i]->arguments) visit(a.get(), s);
      }
      return;
    }
    // The repeated part of a loop: from the first inlined block to the end of the send.
    int loopStart = -1;
    if (isLoop(kind) && receiverIsInlinedBlock(kind)) loopStart = next();
    if (receiverIsInlinedBlock(kind)) {
      visitBlock(static_cast<BlockNode*>(send->receiver.get()), s, true, nullptr);
    } else {
      visit(send->receiver.get(), s);
    }
    for (size_t i = 0; i < send->arguments.size(); i++) {
      Node* a = send->arguments[i].get();
      if (argumentIsInlinedBlock(kind, i)) {
        if (isLoop(kind) && loopStart < 0) loopStart = next();
        visitBlock(static_cast<BlockNode*>(a), s, true, send);
      } else {
        visit(a, s);
      }
    }
    if (loopStart >= 0) tree_->loops.push_back({loopStart, next()});
  }

  void visitBlock(BlockNode* b, Scope* outer, bool inlined, SendNode* /*inliningSend*/) {
    b->inlined = inlined;
    Scope* s = newScope(outer, !inlined, b, next(), INT_MAX);
    b->scope = s;
    for (size_t i = 0; i < b->parameters.size(); i++) {
      VariableInfo* v = declare(s, b->parameters[i], b->parameterLocations[i], true);
      // Inlined parameters (to:do: counters, ifNotNil: values) are set on entry.
      if (inlined) v->writes.push_back(s->start);
    }
    if (!inlined) s->numArgs = int(b->parameters.size());
    for (size_t i = 0; i < b->temporaries.size(); i++) {
      VariableInfo* v = declare(s, b->temporaries[i], b->temporaryLocations[i], false);
      if (inlined) v->writes.push_back(s->start);  // re-initialized to nil on entry
    }
    for (auto& st : b->statements) visit(st.get(), s);
    s->end = next();
  }

  // Pass 2.
  void decideRemote() {
    for (VariableInfo* v : all_) {
      if (!v->captured()) continue;
      if (v->writtenFromInnerBlock) {
        v->remote = true;
        continue;
      }
      int firstCapture = *std::min_element(v->captures.begin(), v->captures.end());
      int lastWrite = v->writes.empty() ? -1 : *std::max_element(v->writes.begin(), v->writes.end());
      if (lastWrite > firstCapture) {
        v->remote = true;
        continue;
      }
      // A loop inside the declaring scope that both writes and captures shares one variable
      // between closures made in different iterations.
      Scope* d = v->declaringScope;
      for (const auto& loop : tree_->loops) {
        int ls = loop.first, le = loop.second;
        bool inside = ls >= d->start && le <= d->end && (ls > d->start || le < d->end);
        if (!inside) continue;
        bool writes = std::any_of(v->writes.begin(), v->writes.end(), [&](int w) { return w >= ls && w <= le; });
        bool captures = std::any_of(v->captures.begin(), v->captures.end(), [&](int c) { return c >= ls && c <= le; });
        if (writes && captures) {
          v->remote = true;
          break;
        }
      }
    }
  }

  // Pass 3.
  void assignSlots() {
    for (auto& sp : tree_->scopes) {
      Scope* s = sp.get();
      if (!s->isReal) continue;
      // Copied values first: outer non-remote variables, then outer temp vectors.
      for (VariableInfo* v : s->capturedVariables) {
        if (v->remote) {
          if (s->captureIndexOfVector(v->declaringScope) < 0) s->addCapture({nullptr, v->declaringScope});
        } else {
          s->addCapture({v, nullptr});
        }
      }
      int temps = int(s->captures.size());
      int args = 0;
      allocate(s, s, args, temps);
      s->numTemps = temps;
    }
  }

  // Allocates slots for the variables of `s` and of the inlined scopes nested in it.
  void allocate(Scope* real, Scope* s, int& args, int& temps) {
    int vector = 0;
    for (auto& v : s->variables) {
      if (v->isArgument && s == real) {
        if (!v->assigned && !v->remote) {
          v->slot = args++;
          continue;
        }
        v->argumentIndex = args++;  // copied into a temp or the vector on entry
      }
      if (v->remote) {
        v->vectorSlot = vector++;
      } else {
        v->slot = temps++;
      }
    }
    if (vector > 0) {
      s->vectorSize = vector;
      s->vectorTempSlot = temps++;
    }
    for (Scope* child : s->children) {
      if (!child->isReal) allocate(real, child, args, temps);
    }
  }

  const std::string& fileName_;
  std::unique_ptr<ScopeTree> tree_;
  std::vector<VariableInfo*> all_;
  int seq_ = 0;
};

}  // namespace

std::unique_ptr<ScopeTree> analyzeScopes(MethodNode& method, const std::vector<std::string>& /*fieldNames*/,
                                         const std::string& fileName) {
  // Fields and globals are resolved by the code generator: anything not bound here.
  return Analysis(fileName).run(method);
}

}  // namespace vm
