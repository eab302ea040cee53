// CodeVerifier: decodes the code once (operands and their roles), then follows every path
// from the entry with the operand stack depth (see CodeVerifier.h for what is checked).
#include "vm/compiler/CodeVerifier.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vm/Opcodes.h"

namespace vm {

namespace {

struct Instruction {
  Op op = Op::Count;
  size_t pc = 0;
  size_t end = 0;  // the next instruction's offset
  Operands operands;
};

// What an instruction takes from the operand stack and leaves on it.
struct StackUse {
  int pops = 0;
  int pushes = 0;
};

bool isSimplePush(Op op) {
  switch (op) {
    case Op::PushSelf:
    case Op::PushNil:
    case Op::PushTrue:
    case Op::PushFalse:
    case Op::PushSmallInteger:
    case Op::PushArgument:
    case Op::PushTemp:
    case Op::PushField:
    case Op::PushLiteral:
    case Op::PushGlobal:
    case Op::PushRemoteTemp:
    case Op::PushThisContext:
    case Op::UpdatePoint:  // pushes nil
      return true;
    default:
      return false;
  }
}

// The send an instruction ends with (itself, or the send of a fused or paired one), or
// Op::Count when it sends nothing.
constexpr Op sendPartOf(Op op) {
  if (Op fused = pairedFusedOf(op); fused != Op::Count) op = fused;
  for (const FusedParts& f : kFusedParts) {
    if (f.fused == op) return f.send;
  }
  if (op == Op::SendIdentical || op == Op::SendNotIdentical) return op;  // no site: always binary
  int count = 0;
  while (kOpInfo[int(op)].operands[count]) count++;
  return count > 0 && operandRole(op, count - 1) == OperandRole::SendSite ? op : Op::Count;
}

// What the verifier needs of each opcode, from the tables of Opcodes.h, made once at
// compile time (the verifier runs on every method the VM compiles).
struct OpShape {
  Op send = Op::Count;        // sendPartOf
  int pushesBeforeSend = 0;   // a fused or paired instruction's pushes before its send
  OperandRole roles[3] = {};  // by operand, as in Operands
};

constexpr std::array<OpShape, kOpCount> makeOpShapes() {
  std::array<OpShape, kOpCount> shapes{};
  for (int i = 0; i < kOpCount; i++) {
    Op op = Op(i);
    OpShape& shape = shapes[size_t(i)];
    shape.send = sendPartOf(op);
    shape.pushesBeforeSend = pairedFusedOf(op) != Op::Count ? 2 : fusedPushOf(op) != Op::Count ? 1 : 0;
    for (int k = 0; kOpInfo[i].operands[k]; k++) shape.roles[k] = operandRole(op, k);
  }
  return shapes;
}
constexpr std::array<OpShape, kOpCount> kOpShapes = makeOpShapes();

const OpShape& shapeOf(Op op) {
  return kOpShapes[size_t(op)];
}

class Verifier {
 public:
  Verifier(const CodeSpec& code, size_t fieldCount, std::string name)
      : code_(code), fieldCount_(fieldCount), name_(std::move(name)) {}

  std::string run() {
    if (!decode() || !checkOperands() || !checkPaths() || !checkNames()) return error_;
    for (size_t i = 0; i < code_.blocks.size(); i++) {
      const CodeSpec& block = *code_.blocks[i];
      if (!block.isBlock) return fail(nullptr, "block " + std::to_string(i) + " is not marked as a block");
      std::string problem = Verifier(block, fieldCount_, name_ + " block " + std::to_string(i)).run();
      if (!problem.empty()) return problem;
    }
    return "";
  }

 private:
  std::string fail(const Instruction* at, const std::string& what) {
    error_ = name_ + ": ";
    if (at) error_ += "at " + std::to_string(at->pc) + " " + kOpInfo[int(at->op)].name + ": ";
    error_ += what;
    return error_;
  }

  bool decode() {
    const auto& bytes = code_.bytecodes;
    indexAt_.assign(bytes.size(), -1);
    instructions_.reserve(bytes.size() / 2 + 1);
    for (size_t pc = 0; pc < bytes.size();) {
      Instruction in;
      in.pc = pc;
      if (bytes[pc] >= uint8_t(Op::Count)) {
        fail(nullptr, "at " + std::to_string(pc) + ": no opcode " + std::to_string(bytes[pc]));
        return false;
      }
      in.op = Op(bytes[pc]);
      in.end = pc + size_t(instructionSize(in.op));
      if (in.end > bytes.size()) {
        fail(&in, "its operands run past the end of the code");
        return false;
      }
      in.operands = decodeOperands(in.op, bytes.data() + pc + 1);
      indexAt_[pc] = int(instructions_.size());
      instructions_.push_back(in);
      pc = in.end;
    }
    return true;
  }

  // The offset a jump operand leads to, or SIZE_MAX when it leads outside the code.
  static size_t jumpTarget(const Instruction& in, int distance) {
    int64_t target = jumpTargetOf(in.op, in.end, distance);
    return target < 0 ? SIZE_MAX : size_t(target);
  }

  bool checkOperand(const Instruction& in, int index, int value) {
    auto bad = [&](const std::string& what) {
      fail(&in, "operand " + std::to_string(index) + " (" + std::to_string(value) + ") " + what);
      return false;
    };
    switch (shapeOf(in.op).roles[index]) {
      case OperandRole::Value:
      case OperandRole::VectorSlot:  // the vector's size is known only where it was made
      case OperandRole::ArrayElements:
        return true;
      case OperandRole::Argument:
        return value < code_.numArgs || bad("is past the " + std::to_string(code_.numArgs) + " arguments");
      case OperandRole::Temp:
        return value < code_.numTemps || bad("is past the " + std::to_string(code_.numTemps) + " temporaries");
      case OperandRole::Field:
        return size_t(value) < fieldCount_ || bad("is past the " + std::to_string(fieldCount_) + " fields");
      case OperandRole::VectorSize:
        return value > 0 || bad("makes an empty temp vector");
      case OperandRole::CopiedValues: {
        const LiteralSpec& block = code_.literals[size_t(in.operands.values[0])];  // checked first
        int declared = code_.blocks[block.blockIndex]->numCopied;
        return value == declared || bad("copies other than the block's " + std::to_string(declared) + " values");
      }
      case OperandRole::JumpDistance: {
        size_t target = jumpTarget(in, value);
        return (target < indexAt_.size() && indexAt_[target] >= 0) || bad("does not land on an instruction");
      }
      case OperandRole::Literal: {
        if (size_t(value) >= code_.literals.size()) {
          return bad("is past the " + std::to_string(code_.literals.size()) + " literals");
        }
        const LiteralSpec& literal = code_.literals[size_t(value)];
        LiteralSpec::Kind expected = in.op == Op::PushClosure                                ? LiteralSpec::Kind::Block
                                     : (in.op == Op::PushGlobal || in.op == Op::StoreGlobal) ? LiteralSpec::Kind::Global
                                                                                             : LiteralSpec::Kind::Value;
        if (literal.kind != expected) return bad("names a literal of another kind");
        if (expected == LiteralSpec::Kind::Block && literal.blockIndex >= code_.blocks.size()) {
          return bad("names a block past the " + std::to_string(code_.blocks.size()) + " blocks");
        }
        return true;
      }
      case OperandRole::SendSite: {
        if (size_t(value) >= code_.sendSites.size()) {
          return bad("is past the " + std::to_string(code_.sendSites.size()) + " send sites");
        }
        Op send = shapeOf(in.op).send;
        int effect = kOpInfo[int(send)].effect;
        int arity = code_.sendSites[size_t(value)].argumentCount;
        if (effect != kVariable && arity != -effect) {
          return bad("is a send site of " + std::to_string(arity) + " arguments, for a send of " +
                     std::to_string(-effect));
        }
        return true;
      }
    }
    return bad("has no role");
  }

  bool checkOperands() {
    if (code_.numCopied > code_.numTemps) {  // copied values are a block's first temps
      fail(nullptr,
           std::to_string(code_.numCopied) + " copied values in " + std::to_string(code_.numTemps) + " temporaries");
      return false;
    }
    for (int temp : code_.vectorTemps) {
      if (temp < 0 || temp >= code_.numTemps) {
        fail(nullptr,
             "temp vector " + std::to_string(temp) + " is past the " + std::to_string(code_.numTemps) + " temporaries");
        return false;
      }
    }
    for (const Instruction& in : instructions_) {
      for (int i = 0; i < in.operands.count; i++) {
        if (!checkOperand(in, i, in.operands.values[i])) return false;
      }
      // The debug information names the temps that hold temp vectors (mirrors read them).
      bool vectorOperand = in.op == Op::PushRemoteTemp || in.op == Op::StoreRemoteTemp ||
                           in.op == Op::PopStoreRemoteTemp || in.op == Op::MakeTempVector;
      if (vectorOperand && std::find(code_.vectorTemps.begin(), code_.vectorTemps.end(), in.operands.values[0]) ==
                               code_.vectorTemps.end()) {
        fail(&in, "temp " + std::to_string(in.operands.values[0]) + " is not among the code's temp vectors");
        return false;
      }
    }
    return true;
  }

  StackUse stackUse(const Instruction& in) const {
    Op op = in.op;
    if (Op send = shapeOf(op).send; send != Op::Count) {
      int arity = send == Op::SendIdentical || send == Op::SendNotIdentical
                      ? 1
                      : code_.sendSites[size_t(in.operands.values[in.operands.count - 1])].argumentCount;
      // The fused pushes come first: they are popped again by the send.
      int before = shapeOf(op).pushesBeforeSend;
      return {arity + 1 - before, 1};
    }
    if (isSimplePush(op)) return {0, 1};
    switch (op) {
      case Op::PushClosure:
        return {in.operands.values[1], 1};
      case Op::PushNewArray:
        return {in.operands.values[0], 1};
      case Op::StoreTemp:
      case Op::StoreField:
      case Op::StoreRemoteTemp:
      case Op::StoreGlobal:
        return {1, 1};
      case Op::Dup:
        return {1, 2};
      case Op::PopStoreTemp:
      case Op::PopStoreField:
      case Op::PopStoreRemoteTemp:
      case Op::Pop:
      case Op::ReturnTop:
      case Op::BlockReturn:
      case Op::NonLocalReturn:
      case Op::JumpIfTrue:
      case Op::JumpIfFalse:
      case Op::JumpIfNil:
      case Op::JumpIfNotNil:
        return {1, 0};
      default:  // ReturnSelf, Jump, JumpBack, ForLoopUp/Down, MakeTempVector
        return {0, 0};
    }
  }

  static bool endsPath(Op op) {
    return op == Op::ReturnTop || op == Op::ReturnSelf || op == Op::BlockReturn || op == Op::NonLocalReturn ||
           op == Op::Jump || op == Op::JumpBack;
  }

  bool checkPaths() {
    if (instructions_.empty()) {
      if (code_.isPrimitive) return true;  // "selector = primitive" with nothing to run
      fail(nullptr, "has no code");
      return false;
    }
    std::vector<int> depthAt(instructions_.size(), -1);
    std::vector<size_t> pending{0};
    depthAt[0] = 0;
    auto reach = [&](const Instruction& from, size_t offset, int depth) {
      if (offset >= indexAt_.size()) {
        fail(&from, "the code runs off its end");
        return false;
      }
      size_t index = size_t(indexAt_[offset]);
      if (depthAt[index] < 0) {
        depthAt[index] = depth;
        pending.push_back(index);
      } else if (depthAt[index] != depth) {
        fail(&instructions_[index],
             "paths meet with stack depths " + std::to_string(depthAt[index]) + " and " + std::to_string(depth));
        return false;
      }
      return true;
    };
    while (!pending.empty()) {
      const Instruction& in = instructions_[pending.back()];
      int depth = depthAt[pending.back()];
      pending.pop_back();
      StackUse use = stackUse(in);
      int table = kOpInfo[int(in.op)].effect;
      if (table != kVariable && use.pushes - use.pops != table) {
        fail(&in, "the verifier's stack use disagrees with the opcode table");
        return false;
      }
      if (depth < use.pops) {
        fail(&in, "pops " + std::to_string(use.pops) + " values of a stack of depth " + std::to_string(depth));
        return false;
      }
      int after = depth - use.pops + use.pushes;
      int highest = std::max(after, depth + shapeOf(in.op).pushesBeforeSend);
      if (highest > code_.maxStack) {
        fail(&in,
             "the stack depth " + std::to_string(highest) + " exceeds the header's " + std::to_string(code_.maxStack));
        return false;
      }
      bool jumps = in.operands.count > 0 && shapeOf(in.op).roles[in.operands.count - 1] == OperandRole::JumpDistance;
      if (jumps && !reach(in, jumpTarget(in, in.operands.values[in.operands.count - 1]), after)) return false;
      if (!endsPath(in.op) && !reach(in, in.end, after)) return false;
    }
    return true;
  }

  bool checkNames() {
    size_t values = size_t(code_.numArgs + code_.numTemps);
    if (code_.tempNames.size() == values) return true;
    fail(nullptr, std::to_string(code_.tempNames.size()) + " value names for " + std::to_string(values) +
                      " arguments and temporaries");
    return false;
  }

  const CodeSpec& code_;
  size_t fieldCount_;
  std::string name_;
  std::vector<Instruction> instructions_;
  std::vector<int> indexAt_;  // bytecode offset -> instruction index; -1 inside an instruction
  std::string error_;
};

}  // namespace

std::string verifyCode(const CodeSpec& code, size_t fieldCount) {
  return Verifier(code, fieldCount, (code.isBlock ? "block of " : "") + code.selector).run();
}

}  // namespace vm
