// Primitives: the calling contract and the table that binds primitive names
// ("Integer>>+") to C++ functions. One file per Smalltalk class under vm/primitives/
// registers its primitives here.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vm {

class Interpreter;

enum class PrimitiveResult {
  Success,             // receiver and arguments replaced by the result (stack top)
  Failure,             // stack untouched; the method's Smalltalk code runs instead
  ControlTransferred,  // the primitive changed frames or processes (block value, perform:,
                       // process switch, non-local unwinding): the interpreter reloads
};

// The calling contract. On entry the receiver is at interp.stackAt(argc) and argument i
// (0-based) at interp.stackAt(argc - 1 - i); the frame has been saved, so a primitive may
// allocate (which may collect and move young objects: re-read the stack after allocating,
// or keep values in LocalRoots). On success it must leave exactly one value — the result —
// where the receiver was (Interpreter::popThenPush). On failure it must leave the stack as
// it found it. A primitive never runs Smalltalk code itself; to call back into Smalltalk it
// sets up a send or a block activation and answers ControlTransferred.
//
// A primitive named "Class>>selector" is bound only in methods of that class or its
// subclasses with the selector's number of arguments (ClassBuilder refuses other bindings),
// and Method>>invokeOn:with: and perform:inSuperclass: run methods only on instances of the
// class they belong to. Instances of subclasses can still lack what a primitive reads (the
// VM makes a program's main object and mirrored objects without new), so a primitive that
// reads its receiver's representation checks it, in its body or with withReceiver<> at
// registration (PrimitiveSupport.h), and fails on anything else.
using PrimitiveFunction = PrimitiveResult (*)(Interpreter& interp, int argc);

class PrimitiveTable {
 public:
  PrimitiveTable();  // registers every primitive of vm/primitives/*.cpp

  void add(std::string name, PrimitiveFunction fn);
  // Index of a primitive (>= 1), or 0 when no primitive has that name.
  unsigned indexOf(std::string_view name) const;
  PrimitiveFunction at(unsigned index) const { return entries_[index].fn; }
  const std::string& nameAt(unsigned index) const { return entries_[index].name; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string name;
    PrimitiveFunction fn;
  };
  std::vector<Entry> entries_;
  std::unordered_map<std::string, unsigned> byName_;
};

// Registration functions, one per file in vm/primitives/.
void registerObjectPrimitives(PrimitiveTable& t);
void registerClassPrimitives(PrimitiveTable& t);
void registerIntegerPrimitives(PrimitiveTable& t);
void registerDoublePrimitives(PrimitiveTable& t);
void registerStringPrimitives(PrimitiveTable& t);
void registerArrayPrimitives(PrimitiveTable& t);
void registerBlockPrimitives(PrimitiveTable& t);
void registerMethodPrimitives(PrimitiveTable& t);
void registerSystemPrimitives(PrimitiveTable& t);
void registerContextPrimitives(PrimitiveTable& t);
void registerProcessPrimitives(PrimitiveTable& t);
void registerCharacterPrimitives(PrimitiveTable& t);
void registerSocketPrimitives(PrimitiveTable& t);
void registerBooleanPrimitives(PrimitiveTable& t);
// Primitives of a class added after the table above was in use: registered after all
// others, since compiled code in images holds primitive indices.
void registerLaterArrayPrimitives(PrimitiveTable& t);

}  // namespace vm
