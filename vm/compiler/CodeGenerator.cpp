// CodeGenerator: one Emitter per method or real block; expressions are compiled either
// for their value (leaving one result on the stack) or for effect (leaving nothing).
#include "vm/compiler/CodeGenerator.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "vm/Opcodes.h"
#include "vm/compiler/CodeVerifier.h"
#include "vm/compiler/Inlining.h"
#include "vm/compiler/KnownSends.h"
#include "vm/compiler/Scope.h"

namespace vm {

namespace {

enum class Use { Value, Effect };

// Names the variables of `s` and of the blocks inlined in it into `names` (the frame's
// values of `real`, arguments first): each where assignSlots put it.
void nameScopeValues(Scope* real, Scope* s, size_t numArgs, std::vector<std::string>& names) {
  std::string shared;
  for (auto& v : s->variables) {
    if (v->isArgument && s == real) {
      // An assigned or remote argument keeps the caller's value in its argument slot.
      names[size_t(v->argumentIndex >= 0 ? v->argumentIndex : v->slot)] = v->name;
      if (v->isFrameArgument()) continue;
    }
    if (v->remote) {
      shared += (shared.empty() ? "" : " ") + v->name;
    } else if (v->slot >= 0) {
      names[numArgs + size_t(v->slot)] = v->name;
    }
  }
  if (s->vectorTempSlot >= 0) names[numArgs + size_t(s->vectorTempSlot)] = "<vector: " + shared + ">";
  for (Scope* child : s->children) {
    if (!child->isReal) nameScopeValues(real, child, numArgs, names);
  }
}

// The name of every value a frame of `spec` (compiled for the real scope `real`) holds,
// one for one: the arguments, then the temporaries — the copied values, the variables of
// the scope and of the blocks inlined in it, temp vectors (named by the variables they
// hold) and the compiler's hidden temps. Mirrors and debuggers name frame values with it.
std::vector<std::string> frameValueNames(Scope* real, const CodeSpec& spec) {
  size_t numArgs = size_t(spec.numArgs);
  std::vector<std::string> names(numArgs + size_t(spec.numTemps));
  for (size_t i = 0; i < real->captures.size(); i++) {
    const Capture& c = real->captures[i];
    if (c.variable) {
      names[numArgs + i] = c.variable->name;
    } else {
      std::string shared;
      for (auto& v : c.vectorOwner->variables) {
        if (v->remote) shared += (shared.empty() ? "" : " ") + v->name;
      }
      names[numArgs + i] = "<vector: " + shared + ">";
    }
  }
  nameScopeValues(real, real, numArgs, names);
  for (const auto& [index, purpose] : spec.hiddenTemps) names[numArgs + size_t(index)] = purpose;
  for (size_t i = 0; i < names.size(); i++) {
    if (names[i].empty()) names[i] = "<value " + std::to_string(i + 1) + ">";  // none is expected
  }
  return names;
}

// What an operand of role [role] counts, for limit errors.
const char* describeRole(OperandRole role) {
  switch (role) {
    case OperandRole::Value:
      return "the small integer operand";
    case OperandRole::Argument:
      return "the argument index";
    case OperandRole::Temp:
      return "the temporary index (a frame's arguments moved to temporaries, declared and compiler temporaries, "
             "copied values)";
    case OperandRole::Field:
      return "the instance variable index";
    case OperandRole::Literal:
      return "the literal index (literals, globals and blocks of one method)";
    case OperandRole::SendSite:
      return "the send site index (message sends of one method)";
    case OperandRole::VectorSlot:
      return "the temp vector slot (variables shared between a scope and its blocks)";
    case OperandRole::VectorSize:
      return "the temp vector size (variables shared between a scope and its blocks)";
    case OperandRole::CopiedValues:
      return "the number of values a block copies from its outer scopes";
    case OperandRole::ArrayElements:
      return "the number of elements of a brace array";
    case OperandRole::JumpDistance:
      return "the jump distance in bytes (the code of a loop or conditional)";
  }
  return "operand";
}

// Appends bytecodes to one CodeSpec, tracking the operand stack depth. Every value stored
// in a fixed width (operands, the header counts, the line table) is checked here: a method
// beyond a limit is a CompileError at the construct being compiled (see at()).
class Emitter {
 public:
  Emitter(CodeSpec& spec, Scope* realScope, const CompileContext& ctx, SourceLocation where)
      : spec_(spec), real_(realScope), ctx_(ctx), at_(where) {}

  CodeSpec& spec() { return spec_; }
  Scope* real() { return real_; }
  // The construct being compiled: where a limit error points.
  void at(SourceLocation where) { at_ = where; }
  SourceLocation where() const { return at_; }
  int depth() const { return depth_; }
  void setDepth(int d) {
    depth_ = d;
    // The header's stack size is the deepest depth + 1.
    if (d + 1 > int(CodeHeader::kMaxStack)) {
      failLimit("the operand stack size of this method or block", CodeHeader::kMaxStack, d + 1);
    }
    maxDepth_ = std::max(maxDepth_, d);
  }
  int maxDepth() const { return maxDepth_; }
  size_t here() const { return spec_.bytecodes.size(); }

  void emit(Op op) { emitOp(op, kOpInfo[int(op)].effect); }
  void emitB(Op op, int b) {
    emit(op);
    byte(b);
  }
  void emitW(Op op, int w) {
    emit(op);
    word(w);
  }
  void emitBB(Op op, int a, int b) {
    emit(op);
    byte(a);
    byte(b);
  }
  // An op whose stack effect depends on its operand.
  void emitOp(Op op, int effect) {
    previousOp_ = lastOp_;
    previousOpAt_ = lastOpAt_;
    lastOpAt_ = here();
    spec_.bytecodes.push_back(uint8_t(op));
    lastOp_ = op;
    operandIndex_ = 0;
    if (effect != kVariable) setDepth(depth_ + effect);
  }
  // The next operand of the last instruction emitted.
  void byte(int b) {
    checkOperand(b, kMaxByteOperand);
    spec_.bytecodes.push_back(uint8_t(b));
  }
  void word(int w) {
    checkOperand(w, kMaxWordOperand);
    spec_.bytecodes.push_back(uint8_t(w & 0xFF));
    spec_.bytecodes.push_back(uint8_t(w >> 8));
  }

  // A forward jump: where its distance operand goes, and the construct that needs it.
  struct PendingJump {
    size_t at;
    SourceLocation where;
  };
  PendingJump jumpForward(Op op) {
    emit(op);
    PendingJump jump{here(), at_};
    word(0);
    return jump;
  }
  void patch(const PendingJump& jump) {
    label();
    size_t distance = here() - (jump.at + 2);
    if (distance > size_t(kMaxWordOperand)) {
      at_ = jump.where;
      failLimit(describeRole(OperandRole::JumpDistance), kMaxWordOperand, int64_t(distance));
    }
    spec_.bytecodes[jump.at] = uint8_t(distance & 0xFF);
    spec_.bytecodes[jump.at + 1] = uint8_t(distance >> 8);
  }
  // A backward jump to [target], the start of the loop compiled for the construct at [where].
  void jumpBack(size_t target, SourceLocation where) {
    emit(Op::JumpBack);
    backwardDistance(target, where);
  }
  // The fast step of a counted loop (ForLoopUp/ForLoopDown) on temporaries [counter] and
  // [limit], back to [target], the first instruction of the loop's body.
  void forLoop(Op op, int counter, int limit, size_t target, SourceLocation where) {
    emitBB(op, counter, limit);
    backwardDistance(target, where);
  }
  // The distance operand of a backward jump to [target] that ends here.
  void backwardDistance(size_t target, SourceLocation where) {
    size_t distance = here() + 2 - target;
    if (distance > size_t(kMaxWordOperand)) {
      at_ = where;
      failLimit(describeRole(OperandRole::JumpDistance), kMaxWordOperand, int64_t(distance));
    }
    word(int(distance));
  }

  int literal(const LiteralSpec& l) {
    // Share equal symbols, numbers, strings and globals within one method (by a key that
    // tells 0.0 from -0.0), through a hash map: a method may have very many literals.
    std::string key;
    if (l.kind == LiteralSpec::Kind::Global) {
      key = "g" + l.name;
    } else if (l.kind == LiteralSpec::Kind::Value && l.value.kind != LiteralValue::Kind::Array &&
               l.value.kind != LiteralValue::Kind::ByteArray) {
      key = "v" + std::to_string(int(l.value.kind)) + ":" + l.value.text;
      if (l.value.kind == LiteralValue::Kind::Double) {
        char bits[sizeof(double)];
        std::memcpy(bits, &l.value.number, sizeof(double));
        key.append(bits, sizeof bits);
      }
    }
    if (!key.empty()) {
      auto it = sharedLiterals_.find(key);
      if (it != sharedLiterals_.end()) return it->second;
    }
    spec_.literals.push_back(l);
    int index = int(spec_.literals.size() - 1);
    if (!key.empty()) sharedLiterals_.emplace(std::move(key), index);
    return index;
  }
  int sendSite(const std::string& selector, int argc) {
    spec_.sendSites.push_back({selector, argc});
    return int(spec_.sendSites.size() - 1);
  }
  // A temporary the compiler makes (a loop's counter or limit); `purpose` names it in the
  // frame's value names.
  int hiddenTemp(const char* purpose) {
    spec_.hiddenTemps.emplace_back(real_->numTemps, purpose);
    return real_->numTemps++;
  }

  // Where a jump lands (or a line starts): no instruction is fused across it.
  size_t label() {
    boundary_ = here();
    return boundary_;
  }

  // Emits the special or ordinary send [send] (its site word follows), fused with the
  // push emitted just before it when there is a fused instruction for the pair and no
  // jump lands between the two (Opcodes.h, fused instructions).
  void emitSendOp(Op send, int effect) {
    Op fused = fusedOpFor(lastOp_, send);
    if (fused == Op::Count || boundary_ == here()) return emitOp(send, effect);
    operandIndex_ = *kOpInfo[int(lastOp_)].operands ? 1 : 0;  // the site word follows the push's operand
    spec_.bytecodes[lastOpAt_] = uint8_t(fused);
    lastOp_ = fused;
    if (effect != kVariable) setDepth(depth_ + effect);
    // A PushTemp directly before, with no jump landing on the fused push: one paired
    // instruction (Opcodes.h). The fused push's opcode byte goes; its operand stays.
    Op paired = pairedOpFor(fused);
    if (paired != Op::Count && previousOp_ == Op::PushTemp && boundary_ != lastOpAt_ &&
        previousOpAt_ + size_t(instructionSize(Op::PushTemp)) == lastOpAt_) {
      spec_.bytecodes.erase(spec_.bytecodes.begin() + std::ptrdiff_t(lastOpAt_));
      spec_.bytecodes[previousOpAt_] = uint8_t(paired);
      lastOp_ = paired;
      lastOpAt_ = previousOpAt_;
      previousOp_ = Op::Count;
      operandIndex_ = 2;  // the site word follows both pushes' operands
    }
  }

  void noteLine(int line) {
    boundary_ = here();
    if (line > line_table::kMaxLine)
      failLimit("the line number recorded in the line table", line_table::kMaxLine, line);
    if (spec_.lineTable.empty() || spec_.lineTable.back().second != line) {
      if (!spec_.lineTable.empty() && spec_.lineTable.back().first == here()) {
        spec_.lineTable.back().second = uint16_t(line);
      } else {
        spec_.lineTable.push_back({uint16_t(here()), uint16_t(line)});
      }
    }
  }

  [[noreturn]] void fail(const std::string& message) const { throw CompileError(ctx_.fileName, at_, message); }
  // "too large: <what> would be <value>; the limit is <limit>"
  [[noreturn]] void failLimit(const std::string& what, int64_t limit, int64_t value) const {
    fail("too large: " + what + " would be " + std::to_string(value) + "; the limit is " + std::to_string(limit));
  }

 private:
  void checkOperand(int64_t value, int64_t limit) {
    OperandRole role = operandRole(lastOp_, operandIndex_++);
    if (value < 0 || value > limit) failLimit(describeRole(role), limit, value);
  }

  CodeSpec& spec_;
  Scope* real_;
  const CompileContext& ctx_;
  SourceLocation at_;
  Op lastOp_ = Op::PushSelf;
  size_t lastOpAt_ = 0;        // where the last instruction emitted starts
  Op previousOp_ = Op::Count;  // the instruction before the last one (Op::Count: none)
  size_t previousOpAt_ = 0;
  // A position where a jump lands or a line starts: the instruction there may not be
  // fused with the one before (SIZE_MAX: none yet).
  size_t boundary_ = SIZE_MAX;
  int operandIndex_ = 0;
  int depth_ = 0;
  int maxDepth_ = 0;
  std::unordered_map<std::string, int> sharedLiterals_;
};

class Generator {
 public:
  explicit Generator(const CompileContext& ctx) : ctx_(ctx) {}

  std::unique_ptr<CodeSpec> method(MethodNode& m) {
    tree_ = analyzeScopes(m, ctx_.fieldNames, ctx_.fileName);
    auto spec = std::make_unique<CodeSpec>();
    spec->selector = m.selector;
    spec->numArgs = int(m.parameters.size());
    spec->isPrimitive = m.isPrimitive;
    spec->primitiveName = m.primitiveName;
    spec->source = m.source;
    spec->line = m.where.line;
    spec->column = m.where.column;
    for (const std::string& p : m.pragmas) {
      if (p == "unwindProtect") spec->flags |= CodeHeader::kUnwindProtect;
      if (p == "exceptionHandler") spec->flags |= CodeHeader::kExceptionHandler;
    }
    Emitter e(*spec, m.scope, ctx_, m.where);
    checkArguments(e, m.parameters.size(), m.parameterLocations);
    e.noteLine(m.where.line);
    prologue(e, m.scope);
    if (m.isPrimitive && m.statements.empty()) {
      // "selector = primitive": when the primitive fails, say so.
      e.emit(Op::PushSelf);
      LiteralSpec message;
      message.value.kind = LiteralValue::Kind::String;
      message.value.text = "primitive " + ctx_.className + ">>" + m.selector + " failed";
      e.emitW(Op::PushLiteral, e.literal(message));
      emitSend(e, "error:", 1, false);
      e.emit(Op::ReturnTop);
    } else {
      statements(e, m.scope, m.statements, /*isBlock=*/false);
    }
    finish(e, *spec, m.scope, m.where);
    spec->tempNames = frameValueNames(m.scope, *spec);
    detectQuick(m, *spec);
    return spec;
  }

 private:
  // Sets the construct being compiled for the duration of one expression (limit errors
  // point at the innermost construct that exceeds a limit).
  class CompilingAt {
   public:
    CompilingAt(Emitter& e, SourceLocation where) : e_(e), saved_(e.where()) { e.at(where); }
    ~CompilingAt() { e_.at(saved_); }

   private:
    Emitter& e_;
    SourceLocation saved_;
  };

  static void checkArguments(Emitter& e, size_t count, const std::vector<SourceLocation>& where) {
    if (count <= CodeHeader::kMaxArgs) return;
    e.at(where[CodeHeader::kMaxArgs]);
    e.failLimit("the number of arguments", CodeHeader::kMaxArgs, int64_t(count));
  }

  // Where temporary [slot] of real scope [real] is declared (its scope's start when the
  // compiler made it).
  static SourceLocation declarationOfTemp(Scope* real, int slot, SourceLocation fallback) {
    std::vector<Scope*> pending{real};
    while (!pending.empty()) {
      Scope* s = pending.back();
      pending.pop_back();
      for (auto& v : s->variables) {
        if (v->slot == slot && !v->remote && !v->isFrameArgument()) return v->where;
      }
      for (Scope* child : s->children) {
        if (!child->isReal) pending.push_back(child);
      }
    }
    return fallback;
  }

  // Fills the header counts of [spec], each checked against its field's width; [start] is
  // where the method or block begins.
  void finish(Emitter& e, CodeSpec& spec, Scope* real, SourceLocation start) {
    if (real->numTemps > int(CodeHeader::kMaxTemps)) {
      e.at(declarationOfTemp(real, int(CodeHeader::kMaxTemps), start));
      e.failLimit("the number of temporaries (declared, compiler-made and copied values)", CodeHeader::kMaxTemps,
                  real->numTemps);
    }
    if (real->captures.size() > CodeHeader::kMaxCopied) {
      e.at(start);
      e.failLimit(describeRole(OperandRole::CopiedValues), CodeHeader::kMaxCopied, int64_t(real->captures.size()));
    }
    if (e.here() > line_table::kMaxCodeBytes) {
      e.at(start);
      e.failLimit("the bytecode size of a method or block (the line table records 16-bit offsets)",
                  int64_t(line_table::kMaxCodeBytes), int64_t(e.here()));
    }
    spec.numTemps = real->numTemps;
    spec.numCopied = int(real->captures.size());
    spec.maxStack = e.maxDepth() + 1;
    // Temp vectors: copied from outer scopes (blocks), or made by this scope or an inlined one.
    for (size_t i = 0; i < real->captures.size(); i++) {
      if (real->captures[i].vectorOwner) spec.vectorTemps.push_back(int(i));
    }
    std::vector<Scope*> pending{real};
    while (!pending.empty()) {
      Scope* s = pending.back();
      pending.pop_back();
      if (s->vectorSize > 0) spec.vectorTemps.push_back(s->vectorTempSlot);
      for (Scope* child : s->children) {
        if (!child->isReal) pending.push_back(child);
      }
    }
  }

  // Creates the temp vector of a scope declaring remote variables, and moves assigned or
  // shared arguments of a real scope to where they live.
  void prologue(Emitter& e, Scope* s) {
    if (s->vectorSize > kMaxByteOperand) {
      for (auto& v : s->variables) {
        if (v->remote && v->vectorSlot == kMaxByteOperand) e.at(v->where);
      }
    }
    if (s->vectorSize > 0) e.emitBB(Op::MakeTempVector, s->vectorTempSlot, s->vectorSize);
    if (!s->isReal) return;
    for (auto& v : s->variables) {
      if (!v->isArgument || v->argumentIndex < 0) continue;
      e.emitB(Op::PushArgument, v->argumentIndex);
      if (v->remote) {
        e.emitBB(Op::PopStoreRemoteTemp, s->vectorTempSlot, v->vectorSlot);
      } else {
        e.emitB(Op::PopStoreTemp, v->slot);
      }
    }
  }

  // Method or block body. Methods end with ^self; blocks answer their last statement.
  void statements(Emitter& e, Scope* s, std::vector<NodePtr>& list, bool isBlock) {
    if (list.empty()) {
      if (isBlock) {
        e.emit(Op::PushNil);
        e.emit(Op::BlockReturn);
      } else {
        e.emit(Op::ReturnSelf);
      }
      return;
    }
    for (size_t i = 0; i < list.size(); i++) {
      Node* st = list[i].get();
      e.at(st->where);
      e.noteLine(st->where.line);
      bool last = i + 1 == list.size();
      if (st->kind == NodeKind::Return) {
        ret(e, s, static_cast<ReturnNode*>(st));
        return;  // statements after a return are unreachable
      }
      if (last && isBlock) {
        expr(e, s, st, Use::Value);
        e.emit(Op::BlockReturn);
        return;
      }
      expr(e, s, st, Use::Effect);
    }
    if (!isBlock) e.emit(Op::ReturnSelf);
  }

  void ret(Emitter& e, Scope* s, ReturnNode* r) {
    bool inMethod = s->realScope() == tree_->methodScope;
    if (inMethod && isVariable(r->value.get(), "self")) {
      e.emit(Op::ReturnSelf);
      return;
    }
    expr(e, s, r->value.get(), Use::Value);
    if (inMethod) {
      e.emit(Op::ReturnTop);
    } else {
      // If the home method has already returned, #escapedBlock: answers the block's value.
      e.emit(Op::NonLocalReturn);
      e.setDepth(e.depth() + 1);
      e.emit(Op::BlockReturn);
    }
  }

  static bool isVariable(const Node* n, const char* name) {
    return n && n->kind == NodeKind::Variable && static_cast<const VariableNode*>(n)->name == name;
  }

  // ---- expressions --------------------------------------------------------------------

  void expr(Emitter& e, Scope* s, Node* n, Use use) {
    CompilingAt here(e, n->where);
    switch (n->kind) {
      case NodeKind::Literal:
        if (use == Use::Value) literal(e, static_cast<LiteralNode*>(n)->value);
        return;
      case NodeKind::Variable:
        if (use == Use::Value) pushVariable(e, s, static_cast<VariableNode*>(n));
        return;
      case NodeKind::Assignment:
        return assign(e, s, static_cast<AssignmentNode*>(n), use);
      case NodeKind::Send:
        return send(e, s, static_cast<SendNode*>(n), use);
      case NodeKind::Cascade:
        return cascade(e, s, static_cast<CascadeNode*>(n), use);
      case NodeKind::Block:
        closure(e, s, static_cast<BlockNode*>(n));
        if (use == Use::Effect) e.emit(Op::Pop);
        return;
      case NodeKind::BraceArray: {
        auto* b = static_cast<BraceArrayNode*>(n);
        for (auto& el : b->elements) expr(e, s, el.get(), Use::Value);
        e.emitOp(Op::PushNewArray, kVariable);
        e.byte(int(b->elements.size()));
        e.setDepth(e.depth() - int(b->elements.size()) + 1);
        if (use == Use::Effect) e.emit(Op::Pop);
        return;
      }
      case NodeKind::Return:
        throw CompileError(ctx_.fileName, n->where, "a return (^) is only allowed as a statement");
    }
  }

  void literal(Emitter& e, const LiteralValue& v) {
    switch (v.kind) {
      case LiteralValue::Kind::Nil:
        e.emit(Op::PushNil);
        return;
      case LiteralValue::Kind::True:
        e.emit(Op::PushTrue);
        return;
      case LiteralValue::Kind::False:
        e.emit(Op::PushFalse);
        return;
      case LiteralValue::Kind::Integer: {
        const std::string& t = v.text;
        bool simple = !t.empty() && t.size() <= 4 && t.find('r') == std::string::npos;
        if (simple) {
          long n = std::strtol(t.c_str(), nullptr, 10);
          if (n >= -128 && n <= 127) {
            e.emitB(Op::PushSmallInteger, int(uint8_t(int8_t(n))));
            return;
          }
        }
        break;
      }
      default:
        break;
    }
    LiteralSpec l;
    l.value = v;
    e.emitW(Op::PushLiteral, e.literal(l));
  }

  // Where a resolved variable lives, seen from real scope `real`.
  struct Location {
    enum class Kind { Argument, Temp, Remote } kind;
    int index;
    int vectorSlot;
  };
  Location locate(Scope* real, VariableInfo* v) {
    Scope* home = v->declaringScope->realScope();
    if (home == real) {
      if (v->isArgument && v->declaringScope == real && v->argumentIndex < 0 && !v->remote) {
        return {Location::Kind::Argument, v->slot, 0};
      }
      if (v->remote) return {Location::Kind::Remote, v->declaringScope->vectorTempSlot, v->vectorSlot};
      return {Location::Kind::Temp, v->slot, 0};
    }
    if (v->remote) {
      int k = real->captureIndexOfVector(v->declaringScope);
      return {Location::Kind::Remote, k, v->vectorSlot};
    }
    return {Location::Kind::Temp, real->captureIndexOfVariable(v), 0};
  }

  int fieldIndex(const std::string& name) const {
    for (size_t i = ctx_.fieldNames.size(); i-- > 0;) {
      if (ctx_.fieldNames[i] == name) return int(i);
    }
    return -1;
  }

  void pushVariable(Emitter& e, Scope* s, VariableNode* v) {
    const std::string& n = v->name;
    if (n == "self" || n == "super") return e.emit(Op::PushSelf);
    if (n == "nil") return e.emit(Op::PushNil);
    if (n == "true") return e.emit(Op::PushTrue);
    if (n == "false") return e.emit(Op::PushFalse);
    if (n == "thisContext") return e.emit(Op::PushThisContext);
    if (v->binding) {
      Location loc = locate(s->realScope(), v->binding);
      switch (loc.kind) {
        case Location::Kind::Argument:
          return e.emitB(Op::PushArgument, loc.index);
        case Location::Kind::Temp:
          return e.emitB(Op::PushTemp, loc.index);
        case Location::Kind::Remote:
          return e.emitBB(Op::PushRemoteTemp, loc.index, loc.vectorSlot);
      }
    }
    if (int f = fieldIndex(n); f >= 0) return e.emitB(Op::PushField, f);
    LiteralSpec g;
    g.kind = LiteralSpec::Kind::Global;
    g.name = n;
    e.emitW(Op::PushGlobal, e.literal(g));
  }

  // Stores the top of stack into a variable; pops it when `use` is Effect.
  void storeTop(Emitter& e, Scope* s, VariableNode* v, Use use) {
    CompilingAt here(e, v->where);
    bool pop = use == Use::Effect;
    if (v->binding) {
      Location loc = locate(s->realScope(), v->binding);
      switch (loc.kind) {
        case Location::Kind::Argument:  // assigned arguments live in temps (see prologue)
          throw CompileError(ctx_.fileName, v->where, "internal: argument '" + v->name + "' not moved to a temp");
        case Location::Kind::Temp:
          return e.emitB(pop ? Op::PopStoreTemp : Op::StoreTemp, loc.index);
        case Location::Kind::Remote:
          return e.emitBB(pop ? Op::PopStoreRemoteTemp : Op::StoreRemoteTemp, loc.index, loc.vectorSlot);
      }
    }
    if (int f = fieldIndex(v->name); f >= 0) {
      if (size_t(f) < ctx_.vmMaintainedFields) {
        throw CompileError(ctx_.fileName, v->where,
                           "'" + v->name + "' is a field the VM maintains: it can be read but not assigned");
      }
      return e.emitB(pop ? Op::PopStoreField : Op::StoreField, f);
    }
    LiteralSpec g;
    g.kind = LiteralSpec::Kind::Global;
    g.name = v->name;
    int index = e.literal(g);
    LiteralSpec& binding = e.spec().literals[size_t(index)];
    if (!binding.assigned) {
      binding.assigned = true;
      binding.assignedAt = v->where;
    }
    e.emitW(Op::StoreGlobal, index);
    if (pop) e.emit(Op::Pop);
  }

  void assign(Emitter& e, Scope* s, AssignmentNode* a, Use use) {
    expr(e, s, a->value.get(), Use::Value);
    storeTop(e, s, a->variable.get(), use);
  }

  // ---- sends ----------------------------------------------------------------------------

  void emitSend(Emitter& e, const std::string& selector, int argc, bool isSuper) {
    if (!isSuper) {
      for (const SpecialSend& sp : kIdentitySends) {
        if (selector == sp.selector) {
          e.emit(sp.op);
          return;
        }
      }
      for (const SpecialSend& sp : kSpecialSends) {
        if (selector == sp.selector) {
          int site = e.sendSite(selector, argc);
          e.emitSendOp(sp.op, kOpInfo[int(sp.op)].effect);
          e.word(site);
          return;
        }
      }
    }
    int site = e.sendSite(selector, argc);
    if (isSuper) {
      e.emitOp(Op::SuperSend, kVariable);
    } else {
      e.emitSendOp(Op::Send, kVariable);
    }
    e.word(site);
    e.setDepth(e.depth() - argc);
  }

  // The VM send (KnownSends.h) that `n` is, or nullptr: its receiver must be a global,
  // that is a name bound to no local variable or field.
  const VmSend* vmSendOf(SendNode* n) {
    if (!n->arguments.empty() || !n->receiver || n->receiver->kind != NodeKind::Variable) return nullptr;
    auto* v = static_cast<VariableNode*>(n->receiver.get());
    if (v->binding || fieldIndex(v->name) >= 0) return nullptr;
    return findVmSend(v->name, n->selector);
  }

  // Receiver chains ("a b c + d e: f") are compiled iteratively, innermost first, so that
  // long chains do not recurse (only arguments and parentheses nest; see kMaxNesting).
  void send(Emitter& e, Scope* s, SendNode* n, Use use) {
    InlineKind kind = classifyInline(*n);
    if (kind != InlineKind::None) return inlined(e, s, n, kind, use);
    std::vector<SendNode*> chain{n};
    for (Node* r = n->receiver.get(); r && r->kind == NodeKind::Send;) {
      auto* inner = static_cast<SendNode*>(r);
      if (classifyInline(*inner) != InlineKind::None || vmSendOf(inner)) break;
      chain.push_back(inner);
      r = inner->receiver.get();
    }
    SendNode* innermost = chain.back();
    if (const VmSend* vmSend = vmSendOf(innermost)) {
      e.emit(vmSend->op);
    } else {
      CompilingAt here(e, innermost->where);
      expr(e, s, innermost->receiver.get(), Use::Value);
      for (auto& a : innermost->arguments) expr(e, s, a.get(), Use::Value);
      emitSend(e, innermost->selector, int(innermost->arguments.size()), innermost->isSuper());
    }
    for (size_t i = chain.size() - 1; i-- > 0;) {
      SendNode* outer = chain[i];
      CompilingAt here(e, outer->where);
      for (auto& a : outer->arguments) expr(e, s, a.get(), Use::Value);
      emitSend(e, outer->selector, int(outer->arguments.size()), false);
    }
    if (use == Use::Effect) e.emit(Op::Pop);
  }

  // A cascade part: a chain of sends whose innermost receiver is the cascade receiver,
  // already on the stack. Nothing in it is inlined (the scope analysis agrees: its blocks
  // are closures); the chain is walked iteratively, as long receiver chains are.
  void cascadePart(Emitter& e, Scope* s, SendNode* part, bool isSuper) {
    std::vector<SendNode*> chain;
    for (SendNode* m = part; m; m = static_cast<SendNode*>(m->receiver.get())) chain.push_back(m);
    for (size_t i = chain.size(); i-- > 0;) {
      SendNode* n = chain[i];
      CompilingAt here(e, n->where);
      for (auto& a : n->arguments) expr(e, s, a.get(), Use::Value);
      // Only the first message of a part goes to the cascade receiver.
      emitSend(e, n->selector, int(n->arguments.size()), isSuper && i + 1 == chain.size());
    }
  }

  void cascade(Emitter& e, Scope* s, CascadeNode* c, Use use) {
    bool isSuper = isVariable(c->receiver.get(), "super");
    expr(e, s, c->receiver.get(), Use::Value);
    for (size_t i = 0; i < c->messages.size(); i++) {
      bool last = i + 1 == c->messages.size();
      if (!last) e.emit(Op::Dup);
      cascadePart(e, s, c->messages[i].get(), isSuper);
      if (!last || use == Use::Effect) e.emit(Op::Pop);
    }
  }

  // ---- blocks ---------------------------------------------------------------------------

  void pushVector(Emitter& e, Scope* s, Scope* owner) {
    Scope* real = s->realScope();
    if (owner->realScope() == real) {
      e.emitB(Op::PushTemp, owner->vectorTempSlot);
    } else {
      e.emitB(Op::PushTemp, real->captureIndexOfVector(owner));
    }
  }

  void closure(Emitter& e, Scope* s, BlockNode* b) {
    Scope* bs = b->scope;
    // The analysis gave the block its own frame only if it agreed that it is not inlined;
    // code for an inlined scope's slots would read and write the enclosing frame's.
    if (!bs->isReal) {
      throw CompileError(ctx_.fileName, b->where, "internal: a block compiled as a closure was analysed as inlined");
    }
    auto spec = std::make_unique<CodeSpec>();
    spec->isBlock = true;
    spec->selector = e.spec().selector;
    spec->numArgs = int(b->parameters.size());
    spec->line = b->where.line;
    spec->column = b->where.column;
    {
      Emitter be(*spec, bs, ctx_, b->where);
      checkArguments(be, b->parameters.size(), b->parameterLocations);
      be.noteLine(b->where.line);
      prologue(be, bs);
      statements(be, bs, b->statements, /*isBlock=*/true);
      finish(be, *spec, bs, b->where);
    }
    spec->flags |= CodeHeader::kIsBlock;
    if (bs->needsOuterContext) spec->flags |= CodeHeader::kNeedsOuterContext;
    spec->tempNames = frameValueNames(bs, *spec);
    // Copied values, in the block's capture order.
    for (const Capture& c : bs->captures) {
      if (c.variable) {
        VariableNode ref(b->where, c.variable->name);
        ref.binding = c.variable;
        pushVariable(e, s, &ref);
      } else {
        pushVector(e, s, c.vectorOwner);
      }
    }
    e.spec().blocks.push_back(std::move(spec));
    LiteralSpec l;
    l.kind = LiteralSpec::Kind::Block;
    l.blockIndex = e.spec().blocks.size() - 1;
    int lit = e.literal(l);
    int copied = int(bs->captures.size());
    e.emitOp(Op::PushClosure, kVariable);
    e.word(lit);
    e.byte(copied);
    e.setDepth(e.depth() - copied + 1);
  }

  // Whether `n` mentions the variable `v` anywhere, nested blocks included. thisContext
  // counts as a mention of every variable (a context reads its frame's temporaries).
  // Iterative: receiver chains can be long.
  static bool mentions(const Node* n, const VariableInfo* v) {
    std::vector<const Node*> pending{n};
    while (!pending.empty()) {
      const Node* x = pending.back();
      pending.pop_back();
      if (!x) continue;
      switch (x->kind) {
        case NodeKind::Literal:
          break;
        case NodeKind::Variable: {
          auto* var = static_cast<const VariableNode*>(x);
          if (var->binding == v || var->name == "thisContext") return true;
          break;
        }
        case NodeKind::Assignment: {
          auto* a = static_cast<const AssignmentNode*>(x);
          pending.push_back(a->variable.get());
          pending.push_back(a->value.get());
          break;
        }
        case NodeKind::Send: {
          auto* send = static_cast<const SendNode*>(x);
          pending.push_back(send->receiver.get());
          for (auto& arg : send->arguments) pending.push_back(arg.get());
          break;
        }
        case NodeKind::Cascade: {
          auto* c = static_cast<const CascadeNode*>(x);
          pending.push_back(c->receiver.get());
          for (auto& m : c->messages) pending.push_back(m.get());
          break;
        }
        case NodeKind::Block:
          for (auto& st : static_cast<const BlockNode*>(x)->statements) pending.push_back(st.get());
          break;
        case NodeKind::Return:
          pending.push_back(static_cast<const ReturnNode*>(x)->value.get());
          break;
        case NodeKind::BraceArray:
          for (auto& el : static_cast<const BraceArrayNode*>(x)->elements) pending.push_back(el.get());
          break;
      }
    }
    return false;
  }

  // Whether the statements of `b` assign the temporary `v` before anything can read it:
  // a statement "v := value" at the top level, with neither the value nor any statement
  // before it mentioning v.
  static bool assignedBeforeAnyUse(const BlockNode* b, const VariableInfo* v) {
    for (auto& st : b->statements) {
      if (st->kind == NodeKind::Assignment) {
        auto* a = static_cast<const AssignmentNode*>(st.get());
        if (a->variable->binding == v) return !mentions(a->value.get(), v);
      }
      if (mentions(st.get(), v)) return false;
    }
    return false;
  }

  // An inlined and:/or: whose block can be compiled as a test: one statement, no
  // parameters or temporaries, no return. Its statement, or nullptr.
  static Node* testableOperand(SendNode* n, InlineKind kind) {
    if (kind != InlineKind::And && kind != InlineKind::Or) return nullptr;
    auto* b = static_cast<BlockNode*>(n->arguments[0].get());
    if (b->statements.size() != 1 || !b->scope->variables.empty() || b->scope->vectorSize > 0) return nullptr;
    Node* st = b->statements[0].get();
    return st->kind == NodeKind::Return ? nullptr : st;
  }

  // Compiles `cond` as a test: it jumps (the jumps go into `jumps`, for the caller to
  // patch) when the condition's value is `jumpWhen`, and falls through otherwise. An
  // inlined "a and: [b]" or "a or: [b]" becomes a chain of jumps, so that no Boolean is
  // pushed only to be tested again. Non-Booleans still reach mustBeBoolean at the jump
  // that tests them, as they would through the value.
  void test(Emitter& e, Scope* s, Node* cond, bool jumpWhen, std::vector<Emitter::PendingJump>& jumps) {
    if (cond->kind == NodeKind::Send) {
      auto* n = static_cast<SendNode*>(cond);
      InlineKind kind = classifyInline(*n);
      if (Node* right = testableOperand(n, kind)) {
        Scope* bs = static_cast<BlockNode*>(n->arguments[0].get())->scope;
        bool isAnd = kind == InlineKind::And;
        if (isAnd != jumpWhen) {
          // "a and: [b]" jumps when false as soon as a part is false; "a or: [b]" jumps
          // when true as soon as a part is true.
          test(e, s, n->receiver.get(), jumpWhen, jumps);
          e.at(right->where);
          test(e, bs, right, jumpWhen, jumps);
        } else {
          // The other way round the left part decides only when it short-circuits.
          std::vector<Emitter::PendingJump> decided;
          test(e, s, n->receiver.get(), !jumpWhen, decided);
          e.at(right->where);
          test(e, bs, right, jumpWhen, jumps);
          for (auto& j : decided) e.patch(j);
        }
        return;
      }
    }
    expr(e, s, cond, Use::Value);
    jumps.push_back(e.jumpForward(jumpWhen ? Op::JumpIfTrue : Op::JumpIfFalse));
  }

  // The entry of an inlined block: fresh temporaries, as for a real block activation
  // (except where the body assigns one before anything can read it: no one could see the
  // nil), and its temp vector.
  void enterInlined(Emitter& e, BlockNode* b) {
    Scope* bs = b->scope;
    // As in closure(): the analysis and the generator must agree on what is inlined.
    if (bs->isReal) throw CompileError(ctx_.fileName, b->where, "internal: an inlined block was analysed as a closure");
    for (auto& v : bs->variables) {
      if (!v->isArgument && !v->remote && !assignedBeforeAnyUse(b, v.get())) {
        e.emit(Op::PushNil);
        e.emitB(Op::PopStoreTemp, v->slot);
      }
    }
    prologue(e, bs);
  }

  // A loop's condition block, inlined: its statements, the last one compiled as a test
  // that jumps when its value is `jumpWhen`. False when the block does not end in a
  // plain expression (nothing is emitted then).
  bool testBlock(Emitter& e, BlockNode* b, bool jumpWhen, std::vector<Emitter::PendingJump>& jumps) {
    if (b->statements.empty()) return false;
    for (auto& st : b->statements) {
      if (st->kind == NodeKind::Return) return false;
    }
    Scope* bs = b->scope;
    enterInlined(e, b);
    for (size_t i = 0; i < b->statements.size(); i++) {
      Node* st = b->statements[i].get();
      e.at(st->where);
      e.noteLine(st->where.line);
      if (i + 1 < b->statements.size()) {
        expr(e, bs, st, Use::Effect);
      } else {
        test(e, bs, st, jumpWhen, jumps);
      }
    }
    return true;
  }

  // Compiles an inlined block's statements in place. With parameterOnStack, the value for
  // the block's parameter is on the stack top on entry.
  void inlineBody(Emitter& e, Scope* /*outer*/, BlockNode* b, Use use, bool parameterOnStack = false) {
    Scope* bs = b->scope;
    enterInlined(e, b);
    if (parameterOnStack) {
      VariableInfo* p = bs->find(b->parameters[0]);
      if (p->remote) {
        e.emitBB(Op::PopStoreRemoteTemp, bs->vectorTempSlot, p->vectorSlot);
      } else {
        e.emitB(Op::PopStoreTemp, p->slot);
      }
    }
    if (b->statements.empty()) {
      if (use == Use::Value) e.emit(Op::PushNil);
      return;
    }
    for (size_t i = 0; i < b->statements.size(); i++) {
      Node* st = b->statements[i].get();
      e.at(st->where);
      e.noteLine(st->where.line);
      bool last = i + 1 == b->statements.size();
      if (st->kind == NodeKind::Return) {
        ret(e, bs, static_cast<ReturnNode*>(st));
        // Keep the recorded depth consistent for the code after the (unreachable) join.
        if (use == Use::Value) e.setDepth(e.depth() + 1);
        return;
      }
      expr(e, bs, st, last ? use : Use::Effect);
    }
  }

  // The ifNotNil: block: its parameter (if any) takes the value on the stack top.
  void notNilBody(Emitter& e, Scope* s, BlockNode* b, Use use) {
    if (b->parameters.empty()) {
      e.emit(Op::Pop);
      inlineBody(e, s, b, use);
    } else {
      inlineBody(e, s, b, use, /*parameterOnStack=*/true);
    }
  }

  void inlined(Emitter& e, Scope* s, SendNode* n, InlineKind kind, Use use) {
    auto block = [&](size_t i) { return static_cast<BlockNode*>(n->arguments[i].get()); };
    auto receiverBlock = [&]() { return static_cast<BlockNode*>(n->receiver.get()); };
    int base = e.depth();
    switch (kind) {
      case InlineKind::IfTrue:
      case InlineKind::IfFalse: {
        std::vector<Emitter::PendingJump> skips;
        test(e, s, n->receiver.get(), /*jumpWhen=*/kind != InlineKind::IfTrue, skips);
        inlineBody(e, s, block(0), use);
        if (use == Use::Value) {
          auto end = e.jumpForward(Op::Jump);
          for (auto& skip : skips) e.patch(skip);
          e.setDepth(base);
          e.emit(Op::PushNil);
          e.patch(end);
        } else {
          for (auto& skip : skips) e.patch(skip);
        }
        e.setDepth(base + (use == Use::Value ? 1 : 0));
        return;
      }
      case InlineKind::IfTrueIfFalse:
      case InlineKind::IfFalseIfTrue: {
        std::vector<Emitter::PendingJump> others;
        test(e, s, n->receiver.get(), /*jumpWhen=*/kind != InlineKind::IfTrueIfFalse, others);
        inlineBody(e, s, block(0), use);
        auto end = e.jumpForward(Op::Jump);
        for (auto& other : others) e.patch(other);
        e.setDepth(base);
        inlineBody(e, s, block(1), use);
        e.patch(end);
        e.setDepth(base + (use == Use::Value ? 1 : 0));
        return;
      }
      case InlineKind::And:
      case InlineKind::Or: {
        bool isAnd = kind == InlineKind::And;
        expr(e, s, n->receiver.get(), Use::Value);
        auto shortCircuit = e.jumpForward(isAnd ? Op::JumpIfFalse : Op::JumpIfTrue);
        inlineBody(e, s, block(0), use);
        if (use == Use::Value) {
          auto end = e.jumpForward(Op::Jump);
          e.patch(shortCircuit);
          e.setDepth(base);
          e.emit(isAnd ? Op::PushFalse : Op::PushTrue);
          e.patch(end);
        } else {
          e.patch(shortCircuit);
        }
        e.setDepth(base + (use == Use::Value ? 1 : 0));
        return;
      }
      case InlineKind::WhileTrue:
      case InlineKind::WhileFalse:
      case InlineKind::WhileTrueUnary:
      case InlineKind::WhileFalseUnary: {
        bool whileTrue = kind == InlineKind::WhileTrue || kind == InlineKind::WhileTrueUnary;
        size_t top = e.label();
        std::vector<Emitter::PendingJump> exits;
        if (!testBlock(e, receiverBlock(), /*jumpWhen=*/!whileTrue, exits)) {
          inlineBody(e, s, receiverBlock(), Use::Value);
          exits.push_back(e.jumpForward(whileTrue ? Op::JumpIfFalse : Op::JumpIfTrue));
        }
        if (!n->arguments.empty()) inlineBody(e, s, block(0), Use::Effect);
        e.jumpBack(top, n->where);
        for (auto& exit : exits) e.patch(exit);
        e.setDepth(base);
        if (use == Use::Value) e.emit(Op::PushNil);
        return;
      }
      case InlineKind::Repeat: {
        size_t top = e.label();
        inlineBody(e, s, receiverBlock(), Use::Effect);
        e.jumpBack(top, n->where);
        e.setDepth(base);
        if (use == Use::Value) e.emit(Op::PushNil);
        return;
      }
      case InlineKind::ToDo:
      case InlineKind::DownToDo:
      case InlineKind::ToByDo:
      case InlineKind::DownToByDo: {
        bool down = kind == InlineKind::DownToDo || kind == InlineKind::DownToByDo;
        bool hasStep = kind == InlineKind::ToByDo || kind == InlineKind::DownToByDo;
        BlockNode* body = block(hasStep ? 2 : 1);
        VariableInfo* loopVariable = body->scope->find(body->parameters[0]);
        // The loop variable is the counter unless the body assigns it or shares it.
        bool separate = loopVariable->assigned || loopVariable->remote;
        int counter = separate ? e.hiddenTemp("<loop counter>") : loopVariable->slot;
        int limit = e.hiddenTemp("<loop limit>");
        int start = -1;
        expr(e, s, n->receiver.get(), Use::Value);
        if (use == Use::Value) {
          start = e.hiddenTemp("<loop receiver>");
          e.emitB(Op::StoreTemp, start);
        }
        e.emitB(Op::PopStoreTemp, counter);
        expr(e, s, n->arguments[0].get(), Use::Value);
        e.emitB(Op::PopStoreTemp, limit);
        const LiteralValue* step = hasStep ? &static_cast<LiteralNode*>(n->arguments[1].get())->value : nullptr;
        bool negativeStep = step && ((step->kind == LiteralValue::Kind::Double && step->number < 0) ||
                                     (step->kind == LiteralValue::Kind::Integer && step->text[0] == '-'));
        bool descending = down != negativeStep;
        size_t top = e.label();
        e.emitB(Op::PushTemp, counter);
        e.emitB(Op::PushTemp, limit);
        emitSend(e, descending ? ">=" : "<=", 1, false);
        auto exit = e.jumpForward(Op::JumpIfFalse);
        size_t bodyStart = e.label();
        if (separate) {
          e.emitB(Op::PushTemp, counter);  // becomes the loop variable's value on entry
          inlineBody(e, s, body, Use::Effect, /*parameterOnStack=*/true);
        } else {
          inlineBody(e, s, body, Use::Effect);
        }
        if (!step) e.forLoop(down ? Op::ForLoopDown : Op::ForLoopUp, counter, limit, bodyStart, n->where);
        e.emitB(Op::PushTemp, counter);
        if (step) {
          literal(e, *step);
          emitSend(e, down ? "-" : "+", 1, false);
        } else {
          e.emitB(Op::PushSmallInteger, 1);
          emitSend(e, down ? "-" : "+", 1, false);
        }
        e.emitB(Op::PopStoreTemp, counter);
        e.jumpBack(top, n->where);
        e.patch(exit);
        e.setDepth(base);
        if (use == Use::Value) e.emitB(Op::PushTemp, start);
        return;
      }
      case InlineKind::TimesRepeat: {
        int count = e.hiddenTemp("<timesRepeat: count>");
        int limit = e.hiddenTemp("<timesRepeat: limit>");
        expr(e, s, n->receiver.get(), Use::Value);
        if (use == Use::Value) e.emit(Op::Dup);
        e.emitB(Op::PopStoreTemp, limit);
        e.emitB(Op::PushSmallInteger, 1);
        e.emitB(Op::PopStoreTemp, count);
        int afterSetup = e.depth();
        size_t top = e.label();
        e.emitB(Op::PushTemp, count);
        e.emitB(Op::PushTemp, limit);
        emitSend(e, "<=", 1, false);
        auto exit = e.jumpForward(Op::JumpIfFalse);
        size_t bodyStart = e.label();
        inlineBody(e, s, block(0), Use::Effect);
        e.forLoop(Op::ForLoopUp, count, limit, bodyStart, n->where);
        e.emitB(Op::PushTemp, count);
        e.emitB(Op::PushSmallInteger, 1);
        emitSend(e, "+", 1, false);
        e.emitB(Op::PopStoreTemp, count);
        e.jumpBack(top, n->where);
        e.patch(exit);
        e.setDepth(afterSetup);
        return;
      }
      case InlineKind::IfNil: {
        expr(e, s, n->receiver.get(), Use::Value);
        if (use == Use::Value) {
          e.emit(Op::Dup);
          auto end = e.jumpForward(Op::JumpIfNotNil);
          e.emit(Op::Pop);
          inlineBody(e, s, block(0), Use::Value);
          e.patch(end);
          e.setDepth(base + 1);
        } else {
          auto end = e.jumpForward(Op::JumpIfNotNil);
          inlineBody(e, s, block(0), Use::Effect);
          e.patch(end);
          e.setDepth(base);
        }
        return;
      }
      case InlineKind::IfNotNil: {
        // recv; dup; jumpIfNil end; <body with the value>; end:   (nil answers nil)
        expr(e, s, n->receiver.get(), Use::Value);
        e.emit(Op::Dup);
        auto isNil = e.jumpForward(Op::JumpIfNil);
        notNilBody(e, s, block(0), use);
        if (use == Use::Value) {
          e.patch(isNil);
        } else {
          auto end = e.jumpForward(Op::Jump);
          e.patch(isNil);
          e.setDepth(base + 1);
          e.emit(Op::Pop);
          e.patch(end);
        }
        e.setDepth(base + (use == Use::Value ? 1 : 0));
        return;
      }
      case InlineKind::IfNilIfNotNil:
      case InlineKind::IfNotNilIfNil: {
        BlockNode* nilBlock = block(kind == InlineKind::IfNilIfNotNil ? 0 : 1);
        BlockNode* valueBlock = block(kind == InlineKind::IfNilIfNotNil ? 1 : 0);
        expr(e, s, n->receiver.get(), Use::Value);
        e.emit(Op::Dup);
        auto isNil = e.jumpForward(Op::JumpIfNil);
        notNilBody(e, s, valueBlock, use);
        auto end = e.jumpForward(Op::Jump);
        e.patch(isNil);
        e.setDepth(base + 1);
        e.emit(Op::Pop);
        inlineBody(e, s, nilBlock, use);
        e.patch(end);
        e.setDepth(base + (use == Use::Value ? 1 : 0));
        return;
      }
      case InlineKind::None:
        break;
    }
  }

  // ---- trivial methods ------------------------------------------------------------------

  void detectQuick(MethodNode& m, CodeSpec& spec) {
    if (m.isPrimitive || !m.pragmas.empty() || !m.temporaries.empty()) return;
    auto& st = m.statements;
    if (st.empty()) {
      spec.quick = QuickMethod::ReturnSelf;
      return;
    }
    auto fieldOf = [&](const Node* n) -> int {
      if (!n || n->kind != NodeKind::Variable) return -1;
      auto* v = static_cast<const VariableNode*>(n);
      return v->binding ? -1 : fieldIndex(v->name);
    };
    if (st.size() == 1 && st[0]->kind == NodeKind::Return) {
      const Node* v = static_cast<ReturnNode*>(st[0].get())->value.get();
      if (isVariable(v, "self")) {
        spec.quick = QuickMethod::ReturnSelf;
      } else if (isVariable(v, "nil")) {
        spec.quick = QuickMethod::ReturnNil;
      } else if (isVariable(v, "true")) {
        spec.quick = QuickMethod::ReturnTrue;
      } else if (isVariable(v, "false")) {
        spec.quick = QuickMethod::ReturnFalse;
      } else if (int f = fieldOf(v); f >= 0 && m.parameters.empty()) {
        spec.quick = QuickMethod::ReturnField;
        spec.quickField = unsigned(f);
      }
      return;
    }
    // "field := arg" or "field := arg. ^self" with one argument: a setter answering self.
    if (m.parameters.size() == 1 &&
        (st.size() == 1 || (st.size() == 2 && st[1]->kind == NodeKind::Return &&
                            isVariable(static_cast<ReturnNode*>(st[1].get())->value.get(), "self")))) {
      if (st[0]->kind != NodeKind::Assignment) return;
      auto* a = static_cast<AssignmentNode*>(st[0].get());
      int f = fieldOf(a->variable.get());
      const Node* value = a->value.get();
      if (f >= 0 && value->kind == NodeKind::Variable && static_cast<const VariableNode*>(value)->binding &&
          static_cast<const VariableNode*>(value)->name == m.parameters[0]) {
        spec.quick = QuickMethod::SetField;
        spec.quickField = unsigned(f);
      }
    }
  }

  const CompileContext& ctx_;
  std::unique_ptr<ScopeTree> tree_;
};

}  // namespace

std::unique_ptr<CodeSpec> compileMethod(MethodNode& method, const CompileContext& context) {
  auto code = Generator(context).method(method);
  // The interpreter trusts compiled code: code that does not verify is refused here, not
  // run (a slot past the frame would be another frame's).
  std::string problem = verifyCode(*code, context.fieldNames.size());
  if (!problem.empty()) {
    throw CompileError(context.fileName, method.where, "internal: the compiled code does not verify: " + problem);
  }
  return code;
}

}  // namespace vm
