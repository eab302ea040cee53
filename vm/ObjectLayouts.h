// ObjectLayouts: slot numbers of the objects the VM reads and writes directly. The kernel's
// class definitions (vm/kernel/*.som) declare the same instance variables in the same
// order; the bootstrap checks that they agree.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>

namespace vm {

// Class and Metaclass instances (the class side of a class adds its own fields after these).
namespace class_slot {
constexpr size_t kSuperclass = 0;
constexpr size_t kMethodDictionary = 1;         // MethodDictionary
constexpr size_t kInstanceSpec = 2;             // SmallInteger, see InstanceSpec below
constexpr size_t kInstanceVariables = 3;        // Array of Symbols (all fields, inherited first)
constexpr size_t kName = 4;                     // Symbol (metaclasses: nil; name derived from thisClass)
constexpr size_t kThisClassOrOrganization = 5;  // metaclasses: the class; classes: nil
constexpr size_t kCount = 6;
}  // namespace class_slot

// What the VM maintains in the instances of a class. The VM reads these parts without
// checks (a closure's code, a process's stack, a class's method dictionary, ...), so
// nothing else may produce or change them: new/new:/basicNew, copying and identity swaps
// refuse instances made by the VM; reflection (instVarAt:, basicAt:, ...) and identity
// swaps leave the maintained fields and indexed slots alone; and the compiler refuses
// assignments to maintained fields outside the kernel library. Subclasses inherit it.
struct VmMaintained {
  bool creation = false;  // instances are made only by the VM (or are unique: nil, true, ...)
  unsigned fields = 0;    // the first `fields` named fields
  bool indexed = false;   // the indexed slots
  constexpr bool any() const { return creation || fields > 0 || indexed; }
};

// Instance spec packed into a SmallInteger (drawn from the least significant bit):
//   format:5   the space::Format of instances
//   creation:1, indexed:1, fields:8   VmMaintained
//   fixedFields:rest   the number of named fields
struct InstanceSpec {
  static constexpr unsigned kCreationBit = 5, kIndexedBit = 6, kVmFieldsShift = 7, kVmFieldsBits = 8;
  static constexpr unsigned kFixedFieldsShift = 15;
  static constexpr unsigned kMaxVmFields = (1u << kVmFieldsBits) - 1;

  static constexpr int64_t pack(uint8_t format, size_t fixedFields, VmMaintained vm = {}) {
    assert(format < 32 && vm.fields <= kMaxVmFields && vm.fields <= fixedFields);
    return int64_t(format) | (int64_t(vm.creation) << kCreationBit) | (int64_t(vm.indexed) << kIndexedBit) |
           (int64_t(vm.fields) << kVmFieldsShift) | (int64_t(fixedFields) << kFixedFieldsShift);
  }
  static constexpr uint8_t format(int64_t spec) { return uint8_t(spec & 31); }
  static constexpr size_t fixedFields(int64_t spec) { return size_t(spec >> kFixedFieldsShift); }
  static constexpr VmMaintained maintained(int64_t spec) {
    return VmMaintained{((spec >> kCreationBit) & 1) != 0, unsigned((spec >> kVmFieldsShift) & kMaxVmFields),
                        ((spec >> kIndexedBit) & 1) != 0};
  }
};

// MethodDictionary: FixedIndexable. slot 0 tally, then pairs (selector, method) in an
// open-addressing table whose capacity is a power of two.
namespace method_dictionary_slot {
constexpr size_t kTally = 0;
constexpr size_t kFirstPair = 1;
}  // namespace method_dictionary_slot

// CompiledMethod and CompiledBlock (Format::CompiledCode): all slots are oops.
namespace code_slot {
constexpr size_t kHeader = 0;     // SmallInteger, see CodeHeader
constexpr size_t kSelector = 1;   // Symbol (blocks: the home method's selector)
constexpr size_t kHolder = 2;     // methods: the class holding it; blocks: the outer code
constexpr size_t kBytecodes = 3;  // ByteArray
constexpr size_t kLiterals = 4;   // Array
constexpr size_t kSendSites = 5;  // Array of kSendSiteSlots per send site, or nil
constexpr size_t kQuick = 6;      // SmallInteger, see QuickMethod (0: a normal method)
constexpr size_t kDebugInfo = 7;  // Array, see debug_info
constexpr size_t kCount = 8;
}  // namespace code_slot

// The debug info of compiled code (an Array; readers check its size).
namespace debug_info {
constexpr size_t kSource = 0;       // String (blocks: nil)
constexpr size_t kLineTable = 1;    // ByteArray, see line_table
constexpr size_t kTempNames = 2;    // Array of Symbols: one per frame value, arguments then
                                    // temporaries (CodeSpec::tempNames)
constexpr size_t kVectorTemps = 3;  // Array of SmallIntegers: the frame temporaries (0-based)
                                    // that hold temp vectors, which Context>>tempAt:put: refuses
constexpr size_t kCount = 4;
}  // namespace debug_info

// Send site (in a method's send-site Array): selector, info, then a two-entry polymorphic
// inline cache of (class index as SmallInteger, method). Class index 0 means "empty".
namespace send_site {
constexpr size_t kSelector = 0;
constexpr size_t kInfo = 1;  // SmallInteger: argument count
constexpr size_t kClass0 = 2;
constexpr size_t kMethod0 = 3;
constexpr size_t kClass1 = 4;
constexpr size_t kMethod1 = 5;
constexpr size_t kSlots = 6;
}  // namespace send_site

// The header of compiled code, packed into a SmallInteger (63 bits available).
struct CodeHeader {
  static constexpr unsigned kArgsShift = 0, kArgsBits = 8;
  static constexpr unsigned kTempsShift = 8, kTempsBits = 16;    // includes copied values
  static constexpr unsigned kCopiedShift = 24, kCopiedBits = 8;  // blocks only
  static constexpr unsigned kStackShift = 32, kStackBits = 16;   // max operand stack depth
  static constexpr unsigned kPrimitiveShift = 48, kPrimitiveBits = 10;
  static constexpr unsigned kFlagsShift = 58;
  // The largest value of each field: the compiler refuses code that needs more (a
  // CompileError naming the limit) and the primitive table stays below kMaxPrimitive.
  static constexpr unsigned kMaxArgs = (1u << kArgsBits) - 1;
  static constexpr unsigned kMaxTemps = (1u << kTempsBits) - 1;
  static constexpr unsigned kMaxCopied = (1u << kCopiedBits) - 1;
  static constexpr unsigned kMaxStack = (1u << kStackBits) - 1;
  static constexpr unsigned kMaxPrimitive = (1u << kPrimitiveBits) - 1;
  // Flags
  static constexpr int64_t kIsBlock = int64_t(1) << 0;
  static constexpr int64_t kNeedsOuterContext = int64_t(1) << 1;  // the block (or a nested one) does ^
  static constexpr int64_t kUnwindProtect = int64_t(1) << 2;      // ensure:/ifCurtailed: frames
  static constexpr int64_t kExceptionHandler = int64_t(1) << 3;   // on:do: frames

  // Every field must be within its maximum (asserted in debug builds; the compiler checks).
  static constexpr int64_t pack(unsigned args, unsigned temps, unsigned copied, unsigned stack, unsigned primitive,
                                int64_t flags) {
    assert(args <= kMaxArgs && temps <= kMaxTemps && copied <= kMaxCopied && stack <= kMaxStack &&
           primitive <= kMaxPrimitive);
    return (int64_t(args) << kArgsShift) | (int64_t(temps) << kTempsShift) | (int64_t(copied) << kCopiedShift) |
           (int64_t(stack) << kStackShift) | (int64_t(primitive) << kPrimitiveShift) | (flags << kFlagsShift);
  }
  static constexpr unsigned args(int64_t h) { return unsigned((h >> kArgsShift) & ((1 << kArgsBits) - 1)); }
  static constexpr unsigned temps(int64_t h) { return unsigned((h >> kTempsShift) & ((1 << kTempsBits) - 1)); }
  static constexpr unsigned copied(int64_t h) { return unsigned((h >> kCopiedShift) & ((1 << kCopiedBits) - 1)); }
  static constexpr unsigned stack(int64_t h) { return unsigned((h >> kStackShift) & ((1 << kStackBits) - 1)); }
  static constexpr unsigned primitive(int64_t h) {
    return unsigned((h >> kPrimitiveShift) & ((1 << kPrimitiveBits) - 1));
  }
  static constexpr int64_t flags(int64_t h) { return h >> kFlagsShift; }
  static constexpr bool has(int64_t h, int64_t flag) { return (flags(h) & flag) != 0; }
};

// The line table of compiled code (debug_info::kLineTable): a ByteArray of
// 4-byte entries, each the bytecode offset where a line starts and that line, both 16-bit
// little-endian, in increasing offset order. The compiler refuses code beyond them.
namespace line_table {
constexpr size_t kEntryBytes = 4;
constexpr size_t kMaxCodeBytes = 65535;  // so that every offset fits
constexpr int kMaxLine = 65535;
}  // namespace line_table

// Trivial methods executed by the send path without building a frame.
struct QuickMethod {
  enum Kind : int64_t {
    None = 0,
    ReturnSelf = 1,
    ReturnField = 2,
    SetField = 3,
    ReturnNil = 4,
    ReturnTrue = 5,
    ReturnFalse = 6
  };
  static constexpr int64_t pack(Kind k, unsigned field) { return int64_t(k) | (int64_t(field) << 4); }
  static constexpr Kind kind(int64_t q) { return Kind(q & 15); }
  static constexpr unsigned field(int64_t q) { return unsigned(q >> 4); }
};

// BlockClosure (FixedIndexable): fixed slots, then the copied values.
namespace closure_slot {
constexpr size_t kCode = 0;          // CompiledBlock
constexpr size_t kOuterContext = 1;  // Context of the home method frame, or nil
constexpr size_t kReceiver = 2;
constexpr size_t kFirstCopied = 3;
}  // namespace closure_slot

// Context: a frame reified on demand ("married" to it). Dead once the frame returns.
namespace context_slot {
constexpr size_t kProcess = 0;
constexpr size_t kFrame = 1;  // SmallInteger frame index in the process stack, nil when dead
constexpr size_t kCount = 2;
}  // namespace context_slot

// Process stack (space::Format::Stack). Slot 0 is the top index (the GC reads it).
namespace stack_slot {
constexpr size_t kTop = 0;  // SmallInteger: index of the last live slot
constexpr size_t kFp = 1;   // SmallInteger: frame index of the top frame (0: none)
constexpr size_t kIp = 2;   // SmallInteger: bytecode offset in the top frame
constexpr size_t kProcess = 3;
constexpr size_t kFirstFrameSlot = 4;
}  // namespace stack_slot

// Frame layout inside a stack, relative to the frame index fp:
//   fp-1-numArgs   receiver (methods) or the closure (blocks)
//   fp-numArgs..fp-1 arguments
//   fp+0 method, fp+1 caller fp, fp+2 caller ip, fp+3 context, fp+4 self, fp+5.. temps,
//   then the operand stack.
namespace frame_slot {
constexpr int kMethod = 0;
constexpr int kCallerFp = 1;
constexpr int kCallerIp = 2;
constexpr int kContext = 3;
constexpr int kSelf = 4;
constexpr int kFirstTemp = 5;
}  // namespace frame_slot

// Process (Fixed).
namespace process_slot {
constexpr size_t kNextLink = 0;
constexpr size_t kStack = 1;
constexpr size_t kPriority = 2;
constexpr size_t kMyList = 3;  // the LinkedList/Semaphore it waits in, or nil
constexpr size_t kName = 4;
constexpr size_t kState = 5;  // SmallInteger: ProcessState
constexpr size_t kCount = 6;
}  // namespace process_slot

// LinkedList and Semaphore share the first two slots.
namespace list_slot {
constexpr size_t kFirstLink = 0;
constexpr size_t kLastLink = 1;
constexpr size_t kExcessSignals = 2;  // Semaphore only
}  // namespace list_slot

// ProcessorScheduler (the single 'Processor').
namespace scheduler_slot {
constexpr size_t kReadyLists = 0;  // Array of LinkedList, index = priority
constexpr size_t kActiveProcess = 1;
constexpr size_t kPausedProcesses = 2;   // LinkedList of parked processes (see Scheduler)
constexpr size_t kExclusiveProcess = 3;  // the process allowed to run while paused, or nil
constexpr size_t kCount = 4;
}  // namespace scheduler_slot

// Association (global bindings).
namespace association_slot {
constexpr size_t kKey = 0;
constexpr size_t kValue = 1;
}  // namespace association_slot

}  // namespace vm
