// Objects: creating and reading the kernel's basic objects (strings, arrays, numbers,
// classes) from C++. Every function that allocates may collect: callers keep other oops
// in LocalRoots across it.
#pragma once

#include <string>
#include <string_view>

#include "vm/ObjectLayouts.h"
#include "vm/Runtime.h"

namespace vm {

Oop newString(Runtime& rt, std::string_view s, space::Tenure t = space::Tenure::Young);
Oop newByteArray(Runtime& rt, size_t n, space::Tenure t = space::Tenure::Young);
Oop newArray(Runtime& rt, size_t n, space::Tenure t = space::Tenure::Young);
// A SmallFloat when the value allows, else a boxed Double (may collect).
Oop newDouble(Runtime& rt, double d);
// A SmallInteger when it fits, else a LargeInteger.
Oop newInteger(Runtime& rt, int64_t v);

inline std::string_view bytesOf(Oop o) {
  return {reinterpret_cast<const char*>(o.object()->bytes()), o.object()->byteLength()};
}
// The value of a Double: an immediate SmallFloat or a boxed one.
inline double doubleOf(Oop o) {
  if (o.isSmallFloat()) return o.smallFloat();
  double d;
  std::memcpy(&d, o.object()->words(), sizeof d);
  return d;
}

bool isString(const Runtime& rt, Oop o);  // String or Symbol
bool isSymbol(const Runtime& rt, Oop o);
bool isDouble(const Runtime& rt, Oop o);
bool isLargeInteger(const Runtime& rt, Oop o);
bool isArray(const Runtime& rt, Oop o);
bool isClass(const Runtime& rt, Oop o);  // a class or a metaclass

// Superclass chain test: is `cls` `ancestor` or one of its subclasses?
bool inheritsFrom(const Runtime& rt, Oop cls, Oop ancestor);
// "Foo" for classes, "Foo class" for metaclasses.
std::string className(const Runtime& rt, Oop cls);
// The source text kept in the debug info of compiled method `method` (empty when there is
// none), read in place: valid until the next allocation.
std::string_view sourceTextOf(const Runtime& rt, Oop method);
// Short description of any object for error messages and traces ("a Foo", "42", "'text'").
std::string describeObject(Runtime& rt, Oop o);

// What the VM maintains in [o] (its class's VmMaintained, see ObjectLayouts.h).
VmMaintained vmMaintained(const Runtime& rt, Oop o);

// Instance variable names of a class (all of them, inherited first).
std::vector<std::string> instanceVariableNames(const Runtime& rt, Oop cls);

}  // namespace vm
