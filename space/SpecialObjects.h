// SpecialObjects: the per-space array of objects the object memory and the VM must find
// without a lookup. The object memory owns the first slots; vm/ defines the rest.
#pragma once

#include <cstddef>

namespace space {

namespace special {
constexpr size_t kNil = 0;
constexpr size_t kTrue = 1;
constexpr size_t kFalse = 2;
constexpr size_t kClassTable = 3;   // Array: class index -> class (nil when unused)
constexpr size_t kSymbolTable = 4;  // Array: open-addressing hash set of Symbols
constexpr size_t kFirstVmSlot = 5;  // vm/SpecialObjects.h numbers the rest
constexpr size_t kArraySize = 128;
}  // namespace special

}  // namespace space
