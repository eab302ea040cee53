// KnownSends: the sends the compiler turns into dedicated instructions instead of an
// ordinary Send. One table for each kind, so the code generator names no selector or
// class of its own:
//   - special sends: a selector with a fast path in the interpreter (SmallInteger, Double,
//     Array and Block cases); the instruction still carries a send site for the slow path;
//   - VM sends: a unary message to a global (`Chester updatePoint`) that is a VM operation
//     with no send at all. It applies only when the name is not shadowed by a local
//     variable or a field: then it is an ordinary send to that variable.
#pragma once

#include <string_view>

#include "vm/Opcodes.h"

namespace vm {

struct SpecialSend {
  const char* selector;
  Op op;
};

inline constexpr SpecialSend kSpecialSends[] = {
    {"+", Op::SendAdd},           {"-", Op::SendSubtract},   {"*", Op::SendMultiply},      {"<", Op::SendLess},
    {">", Op::SendGreater},       {"<=", Op::SendLessEqual}, {">=", Op::SendGreaterEqual}, {"=", Op::SendEqual},
    {"~=", Op::SendNotEqual},     {"<>", Op::SendNotEqual},  {"&", Op::SendBitAnd},        {"bitAnd:", Op::SendBitAnd},
    {"bitOr:", Op::SendBitOr},    {"<<", Op::SendShiftLeft}, {">>", Op::SendShiftRight},   {">>>", Op::SendShiftRight},
    {"/", Op::SendQuotient},      {"%", Op::SendModulo},     {"\\\\", Op::SendModulo},     {"at:", Op::SendAt},
    {"at:put:", Op::SendAtPut},   {"value", Op::SendValue},  {"&&", Op::SendAnd},          {"||", Op::SendOr},
    {"//", Op::SendDoubleDivide},
};

// Identity comparisons: never sent, whatever the receiver (SOM semantics).
inline constexpr SpecialSend kIdentitySends[] = {
    {"==", Op::SendIdentical},
    {"~~", Op::SendNotIdentical},
};

struct VmSend {
  const char* global;    // the receiver, a global name
  const char* selector;  // unary
  Op op;                 // an instruction without operands that pushes the send's value
};

inline constexpr VmSend kVmSends[] = {
    {"Chester", "updatePoint", Op::UpdatePoint},  // pause here if an update is pending
};

// The VM send for `global selector`, or nullptr.
inline const VmSend* findVmSend(std::string_view global, std::string_view selector) {
  for (const VmSend& s : kVmSends) {
    if (global == s.global && selector == s.selector) return &s;
  }
  return nullptr;
}

}  // namespace vm
