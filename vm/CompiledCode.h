// CompiledCode: reading CompiledMethod and CompiledBlock objects (slots in ObjectLayouts.h,
// code_slot): the one place that knows where a code object keeps its header, bytecodes,
// literals and send sites, and how a block leads to its home method.
#pragma once

#include <cstddef>
#include <cstdint>

#include "space/HeapObject.h"
#include "vm/ObjectLayouts.h"

namespace vm {

using space::Oop;

// The packed header (CodeHeader) of a method or block.
inline int64_t codeHeaderOf(Oop code) {
  return code.object()->slot(code_slot::kHeader).smallInteger();
}
inline unsigned argCountOf(Oop code) {
  return CodeHeader::args(codeHeaderOf(code));
}
inline bool isBlockCode(Oop code) {
  return CodeHeader::has(codeHeaderOf(code), CodeHeader::kIsBlock);
}
inline const uint8_t* bytecodesOf(Oop code) {
  return code.object()->slot(code_slot::kBytecodes).object()->bytes();
}
inline size_t bytecodeLengthOf(Oop code) {
  return code.object()->slot(code_slot::kBytecodes).object()->byteLength();
}
inline Oop* literalsOf(Oop code) {
  return code.object()->slot(code_slot::kLiterals).object()->slots();
}
// Send-site slots (send_site::kSlots per site). A method without sends has an empty Array.
inline Oop* sendSitesOf(Oop code) {
  return code.object()->slot(code_slot::kSendSites).object()->slots();
}
// The method a block is nested in (the code itself for a method).
inline Oop homeMethodOf(Oop code) {
  while (isBlockCode(code)) code = code.object()->slot(code_slot::kHolder);
  return code;
}

}  // namespace vm
