// Objects: construction and inspection helpers for kernel objects.
#include "vm/Objects.h"

#include <cmath>
#include <cstdio>

#include "vm/LargeInteger.h"
#include "vm/ObjectLayouts.h"
#include "vm/Utf8.h"

namespace vm {

using space::HeapObject;

Oop newString(Runtime& rt, std::string_view s, space::Tenure t) {
  Oop o = rt.space().allocateBytes(rt.known.string, s.size(), t);
  if (!s.empty()) std::memcpy(o.object()->bytes(), s.data(), s.size());
  // Strings made in C++ are mostly short and ASCII (printString, names): knowing it now
  // costs one pass beside the copy and saves the first String primitive its own.
  if (utf8::allAscii(s)) o.object()->setKnownAscii(true);
  return o;
}

Oop newByteArray(Runtime& rt, size_t n, space::Tenure t) {
  return rt.space().allocateBytes(rt.known.byteArray, n, t);
}

Oop newArray(Runtime& rt, size_t n, space::Tenure t) {
  return rt.space().allocate(rt.known.array, space::Format::Indexable, n, t);
}

Oop newDouble(Runtime& rt, double d) {
  Oop immediate;
  if (Oop::tryFromDouble(d, immediate)) return immediate;
  Oop o = rt.space().allocateWords(rt.known.doubleClass, 1);
  std::memcpy(o.object()->words(), &d, sizeof d);
  return o;
}

Oop newInteger(Runtime& rt, int64_t v) {
  if (Oop::fitsSmallInteger(v)) return Oop::fromSmallInteger(v);
  return BigInt::fromInt64(v).toOop(rt);
}

bool isString(const Runtime& rt, Oop o) {
  return o.isHeapObject() &&
         (o.object()->classIndex() == rt.known.string || o.object()->classIndex() == rt.known.symbol);
}
bool isSymbol(const Runtime& rt, Oop o) {
  return o.isHeapObject() && o.object()->classIndex() == rt.known.symbol;
}
bool isDouble(const Runtime& rt, Oop o) {
  return o.isSmallFloat() || (o.isHeapObject() && o.object()->classIndex() == rt.known.doubleClass);
}
bool isLargeInteger(const Runtime& rt, Oop o) {
  return o.isHeapObject() && o.object()->classIndex() == rt.known.largeInteger &&
         space::formatIsWords(o.object()->format());
}
bool isArray(const Runtime& rt, Oop o) {
  return o.isHeapObject() && o.object()->classIndex() == rt.known.array;
}

VmMaintained vmMaintained(const Runtime& rt, Oop o) {
  Oop cls = rt.classOf(o);
  if (!cls.isHeapObject() || cls.object()->slotCount() < class_slot::kCount) return VmMaintained{true, 0, false};
  Oop spec = cls.object()->slot(class_slot::kInstanceSpec);
  return spec.isSmallInteger() ? InstanceSpec::maintained(spec.smallInteger()) : VmMaintained{true, 0, false};
}

bool isClass(const Runtime& rt, Oop o) {
  if (!o.isHeapObject() || o.object()->isForwarded()) return false;
  Oop cls = rt.classOf(o);
  if (!cls.isHeapObject()) return false;
  // o is a class when its class is a metaclass, or o is a metaclass (class Metaclass).
  if (o.object()->classIndex() == rt.known.metaclass) return true;
  return cls.object()->classIndex() == rt.known.metaclass;
}

bool inheritsFrom(const Runtime& rt, Oop cls, Oop ancestor) {
  for (Oop c = cls; c.isHeapObject() && c != rt.nil(); c = c.object()->slot(class_slot::kSuperclass)) {
    if (c == ancestor) return true;
  }
  return false;
}

std::string_view sourceTextOf(const Runtime& rt, Oop method) {
  Oop info = method.object()->slot(code_slot::kDebugInfo);
  if (!info.isHeapObject() || info.object()->slotCount() <= debug_info::kSource) return {};
  Oop source = info.object()->slot(debug_info::kSource);
  return isString(rt, source) ? bytesOf(source) : std::string_view();
}

std::string className(const Runtime& rt, Oop cls) {
  if (!cls.isHeapObject() || cls == rt.nil()) return "nil";
  if (cls.object()->classIndex() == rt.known.metaclass) {
    Oop thisClass = cls.object()->slot(class_slot::kThisClassOrOrganization);
    return className(rt, thisClass) + " class";
  }
  Oop name = cls.object()->slot(class_slot::kName);
  if (!isString(rt, name)) return "a class";
  return std::string(bytesOf(name));
}

std::string describeObject(Runtime& rt, Oop o) {
  if (o.isSmallInteger()) return std::to_string(o.smallInteger());
  if (o.isCharacter()) return "$" + std::string(1, char(o.character()));
  if (o == rt.nil()) return "nil";
  if (o == rt.trueObject()) return "true";
  if (o == rt.falseObject()) return "false";
  if (isSymbol(rt, o)) return "#" + std::string(bytesOf(o));
  if (isString(rt, o)) return "'" + std::string(bytesOf(o)) + "'";
  if (isDouble(rt, o)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", doubleOf(o));
    return buf;
  }
  if (isLargeInteger(rt, o)) return BigInt::fromOop(rt, o).toString();
  if (isClass(rt, o)) return className(rt, o);
  std::string name = className(rt, rt.classOf(o));
  bool vowel = !name.empty() && std::string("AEIOU").find(name[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + name;
}

std::vector<std::string> instanceVariableNames(const Runtime& rt, Oop cls) {
  std::vector<std::string> names;
  if (!cls.isHeapObject() || cls == rt.nil()) return names;
  Oop arr = cls.object()->slot(class_slot::kInstanceVariables);
  if (!arr.isHeapObject() || arr == rt.nil()) return names;
  for (size_t i = 0; i < arr.object()->slotCount(); i++) names.emplace_back(bytesOf(arr.object()->slot(i)));
  return names;
}

}  // namespace vm
