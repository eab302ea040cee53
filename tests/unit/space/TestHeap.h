// TestHeap: a small space with a handful of classes, for object-memory unit tests.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "space/Handle.h"
#include "space/HeapVerifier.h"
#include "space/Space.h"

namespace space::test {

inline SpaceConfig smallConfig(const char* name = "test") {
  SpaceConfig c;
  c.name = name;
  c.edenBytes = 256 << 10;
  c.survivorBytes = 64 << 10;
  c.maxOldBytes = size_t(256) << 20;
  c.reservationBytes = size_t(1) << 30;
  c.largeObjectBytes = 32 << 10;
  c.minFullGcBytes = 4 << 20;
  return c;
}

struct TestHeap {
  Space space;
  ClassIndex classClass = 0;  // the class of class objects (its own class)
  ClassIndex undefinedClass = 0, arrayClass = 0, pointClass = 0, bytesClass = 0, wordsClass = 0, symbolClass = 0,
             stackClass = 0;

  explicit TestHeap(const SpaceConfig& config = smallConfig()) : space(config) {
    Oop meta = space.allocate(reserved_class::kInvalid, Format::Fixed, 3, Tenure::Old);
    classClass = space.classTable().registerClass(meta);
    meta.object()->setClassIndex(classClass);
    undefinedClass = makeClass();
    arrayClass = makeClass();
    pointClass = makeClass();
    bytesClass = makeClass();
    wordsClass = makeClass();
    symbolClass = makeClass();
    stackClass = makeClass();
    for (Oop o : {space.nil(), space.trueObject(), space.falseObject()}) o.object()->setClassIndex(undefinedClass);
    space.setArrayClassIndex(arrayClass);
    space.symbols().setSymbolClassIndex(symbolClass);
  }

  ClassIndex makeClass() {
    Oop cls = space.allocate(classClass, Format::Fixed, 3, Tenure::Old);
    return space.classTable().registerClass(cls);
  }
  Oop point(int64_t x, int64_t y, Tenure t = Tenure::Young) {
    Oop p = space.allocate(pointClass, Format::Fixed, 2, t);
    space.storePointer(p, 0, Oop::fromSmallInteger(x));
    space.storePointer(p, 1, Oop::fromSmallInteger(y));
    return p;
  }
  Oop array(size_t n, Tenure t = Tenure::Young) { return space.allocate(arrayClass, Format::Indexable, n, t); }
  // A process stack whose slot 0 says slots [1, top] are live.
  Oop stack(size_t size, size_t top) {
    Oop s = space.allocate(stackClass, Format::Stack, size, Tenure::Old);
    s.object()->slots()[0] = Oop::fromSmallInteger(int64_t(top));
    space.registerStack(s);
    return s;
  }
  static int64_t x(Oop p) { return p.object()->slot(0).smallInteger(); }
  static int64_t y(Oop p) { return p.object()->slot(1).smallInteger(); }

  void verify() {
    VerificationReport r = verifyHeap(space);
    INFO(r.summary());
    CHECK(r.ok());
  }
};

// A structural fingerprint of everything reachable from `root` (values and shape, not
// addresses), to compare a space before and after a rollback.
inline std::string fingerprint(Space& space, Oop root) {
  std::string out;
  std::vector<Oop> seen;
  std::function<void(Oop)> walk = [&](Oop o) {
    if (!o.isHeapObject()) {
      out += std::to_string(o.bits()) + ",";
      return;
    }
    for (size_t i = 0; i < seen.size(); i++) {
      if (seen[i] == o) {
        out += "@" + std::to_string(i) + ",";
        return;
      }
    }
    seen.push_back(o);
    HeapObject* h = o.object();
    out += "{" + std::to_string(h->classIndex()) + ":" + std::to_string(h->slotCount()) + ":" +
           std::to_string(space.identityHash(o)) + ":";
    if (formatHasPointers(h->format())) {
      for (size_t i = 0; i < h->slotCount(); i++) walk(h->slot(i));
    }
    out += "}";
  };
  walk(root);
  return out;
}

}  // namespace space::test
