// ClassIndex: the 22-bit index of an object's class in its space's class table.
#pragma once

#include <cstdint>

namespace space {

using ClassIndex = uint32_t;

constexpr unsigned kClassIndexBits = 22;
constexpr ClassIndex kMaxClassIndex = (1u << kClassIndexBits) - 1;

// Indexes below kFirstOrdinaryClassIndex are reserved by the object memory. The two
// immediate kinds have table entries too, so that "class of" and inline caches treat
// immediates and heap objects uniformly, and replacing the SmallInteger class is a
// table store.
namespace reserved_class {
constexpr ClassIndex kInvalid = 0;       // never the class of a live object
constexpr ClassIndex kFreeChunk = 1;     // free space in old space (never reachable)
constexpr ClassIndex kForwarded = 2;     // a forwarder left by become; misses every cache
constexpr ClassIndex kSmallInteger = 3;  // pseudo-index of tagged SmallIntegers
constexpr ClassIndex kCharacter = 4;     // pseudo-index of tagged Characters
constexpr ClassIndex kSmallFloat = 5;    // pseudo-index of tagged SmallFloats
}  // namespace reserved_class

constexpr ClassIndex kFirstOrdinaryClassIndex = 6;

}  // namespace space
