// Disassembler: walks bytecodes with instructionSize() from the opcode table.
#include "vm/Disassembler.h"

#include <cstdio>

#include "vm/CompiledCode.h"
#include "vm/MethodDictionary.h"
#include "vm/ObjectLayouts.h"
#include "vm/Objects.h"
#include "vm/Opcodes.h"
#include "vm/Runtime.h"

namespace vm {

using space::Oop;

std::string disassemble(Runtime& rt, Oop code, int indent) {
  std::string pad(size_t(indent), ' ');
  std::string out;
  space::HeapObject* c = code.object();
  int64_t h = codeHeaderOf(code);
  Oop bytes = c->slot(code_slot::kBytecodes);
  Oop literals = c->slot(code_slot::kLiterals);
  Oop sites = c->slot(code_slot::kSendSites);
  char line[256];
  std::snprintf(line, sizeof line, "%s%s %s  args %u temps %u copied %u stack %u%s%s\n", pad.c_str(),
                CodeHeader::has(h, CodeHeader::kIsBlock) ? "block in" : "method",
                std::string(bytesOf(c->slot(code_slot::kSelector))).c_str(), CodeHeader::args(h), CodeHeader::temps(h),
                CodeHeader::copied(h), CodeHeader::stack(h), CodeHeader::primitive(h) ? "  <primitive>" : "",
                c->slot(code_slot::kQuick).smallInteger() ? "  <quick>" : "");
  out += line;
  const uint8_t* b = bytes.object()->bytes();
  size_t n = bytes.object()->byteLength();
  std::vector<Oop> blocks;
  for (size_t pc = 0; pc < n;) {
    Op op = Op(b[pc]);
    if (int(op) >= kOpCount) {
      std::snprintf(line, sizeof line, "%s  %4zu  <invalid %d>\n", pad.c_str(), pc, b[pc]);
      out += line;
      break;
    }
    const OpInfo& info = kOpInfo[int(op)];
    std::string operands;
    size_t p = pc + size_t(instructionSize(op));
    int firstWord = -1;
    int64_t jumpTarget = -1;
    Operands decoded = decodeOperands(op, b + pc + 1);
    for (int index = 0; index < decoded.count; index++) {
      char format = info.operands[index];  // operands are one letter each
      int v = decoded.values[index];
      if (format == 'J') {
        jumpTarget = jumpTargetOf(op, p, v);
        continue;  // shown as "; to N"
      }
      if (format == 'W' && firstWord < 0) firstWord = v;
      if (operandRole(op, index) == OperandRole::Value) v = int8_t(v);  // PushSmallInteger's, fused or paired
      operands += " " + std::to_string(v);
    }
    std::string note;
    if ((op == Op::PushLiteral || op == Op::PushGlobal || op == Op::StoreGlobal || op == Op::PushClosure) &&
        firstWord >= 0 && size_t(firstWord) < literals.object()->slotCount()) {
      Oop lit = literals.object()->slot(size_t(firstWord));
      if (op == Op::PushClosure) {
        blocks.push_back(lit);
        note = "  ; block " + std::to_string(blocks.size());
      } else if (op != Op::PushLiteral) {
        note = "  ; " + std::string(bytesOf(lit.object()->slot(association_slot::kKey)));
      } else {
        note = "  ; " + describeObject(rt, lit);
      }
    } else if ((std::string(info.operands) == "W" || fusedPushOf(op) != Op::Count || pairedFusedOf(op) != Op::Count) &&
               op != Op::PushLiteral && sites.isHeapObject() && sites != rt.nil() &&
               size_t(firstWord) * send_site::kSlots < sites.object()->slotCount()) {
      note = "  ; #" + std::string(bytesOf(sites.object()->slot(size_t(firstWord) * send_site::kSlots)));
    } else if (jumpTarget >= 0) {
      note = "  ; to " + std::to_string(jumpTarget);
    }
    std::snprintf(line, sizeof line, "%s  %4zu  %s%s%s\n", pad.c_str(), pc, info.name, operands.c_str(), note.c_str());
    out += line;
    pc = p;
  }
  for (size_t i = 0; i < blocks.size(); i++) {
    out += pad + "  block " + std::to_string(i + 1) + ":\n";
    out += disassemble(rt, blocks[i], indent + 4);
  }
  return out;
}

std::string disassembleClass(Runtime& rt, Oop cls) {
  std::string out;
  for (Oop c : {cls, rt.classOf(cls)}) {
    out += className(rt, c) + "\n";
    method_dictionary::forEach(rt.space(), c.object()->slot(class_slot::kMethodDictionary),
                               [&](Oop, Oop m) { out += disassemble(rt, m, 2); });
  }
  return out;
}

}  // namespace vm
