// SpecialObjects (VM part): the slots of the special objects array after the ones the
// object memory owns. The mirror protocol exposes them by name (specialObjectNames) so a
// hypervisor can reconfigure the VM (e.g. replace the class of SmallIntegers).
#pragma once

#include <cstddef>

#include "space/SpecialObjects.h"

namespace vm::special {

using space::special::kFalse;
using space::special::kNil;
using space::special::kTrue;

#define ESPELL_VM_SPECIAL_OBJECTS(X)                                            \
  X(Globals, "globals")                 /* the global dictionary (Globals.h) */ \
  X(Processor, "processor")             /* the ProcessorScheduler */            \
  X(System, "system")                   /* the System instance */               \
  X(UndefinedGlobal, "undefinedGlobal") /* value of bindings not yet defined */ \
  X(ClassObject, "Object")                                                      \
  X(ClassClass, "Class")                                                        \
  X(ClassMetaclass, "Metaclass")                                                \
  X(ClassNil, "Nil")                                                            \
  X(ClassBoolean, "Boolean")                                                    \
  X(ClassTrue, "True")                                                          \
  X(ClassFalse, "False")                                                        \
  X(ClassSmallInteger, "SmallInteger") /* class of tagged integers */           \
  X(ClassLargeInteger, "LargeInteger") /* class of heap integers */             \
  X(ClassDouble, "Double")                                                      \
  X(ClassCharacter, "Character")                                                \
  X(ClassString, "String")                                                      \
  X(ClassSymbol, "Symbol")                                                      \
  X(ClassArray, "Array")                                                        \
  X(ClassByteArray, "ByteArray")                                                \
  X(ClassMethod, "Method")                                                      \
  X(ClassPrimitive, "Primitive")                                                \
  X(ClassCompiledBlock, "CompiledBlock")                                        \
  X(ClassBlock, "Block")                                                        \
  X(ClassBlock1, "Block1")                                                      \
  X(ClassBlock2, "Block2")                                                      \
  X(ClassBlock3, "Block3")                                                      \
  X(ClassBlock4, "Block4")                                                      \
  X(ClassContext, "Context")                                                    \
  X(ClassProcess, "Process")                                                    \
  X(ClassProcessStack, "ProcessStack")                                          \
  X(ClassSemaphore, "Semaphore")                                                \
  X(ClassLinkedList, "LinkedList")                                              \
  X(ClassProcessorScheduler, "ProcessorScheduler")                              \
  X(ClassAssociation, "Association")                                            \
  X(ClassMethodDictionary, "MethodDictionary")                                  \
  X(ClassSystem, "System")                                                      \
  X(SelectorDoesNotUnderstand, "doesNotUnderstand:arguments:")                  \
  X(SelectorUnknownGlobal, "unknownGlobal:")                                    \
  X(SelectorEscapedBlock, "escapedBlock:")                                      \
  X(SelectorMustBeBoolean, "mustBeBoolean:") /* sent to Processor */            \
  X(SelectorNonLocalReturnThrough, "nonLocalReturn:through:")                   \
  X(SelectorStackOverflow, "stackOverflow") /* sent to Processor */             \
  X(SelectorOutOfMemory, "outOfMemory:")    /* sent to Processor */             \
  X(SelectorTerminateUnwinding, "terminateUnwinding")

enum : size_t {
  kBeforeFirst = space::special::kFirstVmSlot - 1,
#define ESPELL_SPECIAL_ENUM(name, text) k##name,
  ESPELL_VM_SPECIAL_OBJECTS(ESPELL_SPECIAL_ENUM)
#undef ESPELL_SPECIAL_ENUM
      kEnd
};
static_assert(kEnd <= space::special::kArraySize, "special objects array too small");

struct SpecialObjectName {
  size_t index;
  const char* name;
};
constexpr SpecialObjectName kSpecialObjectNames[] = {{kNil, "nil"},
                                                     {kTrue, "true"},
                                                     {kFalse, "false"},
#define ESPELL_SPECIAL_NAME(name, text) {k##name, #name},
                                                     ESPELL_VM_SPECIAL_OBJECTS(ESPELL_SPECIAL_NAME)
#undef ESPELL_SPECIAL_NAME
};

}  // namespace vm::special
