// MethodDictionary: linear probing; removal re-inserts the rest of the cluster.
#include "vm/MethodDictionary.h"

#include "vm/ObjectLayouts.h"
#include "vm/Runtime.h"

namespace vm::method_dictionary {

using space::Oop;
using namespace method_dictionary_slot;

namespace {
size_t capacityOf(Oop dict) {
  return (dict.object()->slotCount() - kFirstPair) / 2;
}
Oop keyAt(Oop dict, size_t i) {
  return dict.object()->slot(kFirstPair + 2 * i);
}
Oop valueAt(Oop dict, size_t i) {
  return dict.object()->slot(kFirstPair + 2 * i + 1);
}

// Index of `selector`'s pair, or of the empty pair where it would go.
size_t probe(space::Space& space, Oop dict, Oop selector) {
  size_t mask = capacityOf(dict) - 1;
  size_t i = space.identityHash(selector) & mask;
  while (keyAt(dict, i) != space.nil() && keyAt(dict, i) != selector) i = (i + 1) & mask;
  return i;
}
}  // namespace

Oop create(Runtime& rt, size_t capacity) {
  size_t cap = 4;
  while (cap < capacity) cap *= 2;
  Oop d = rt.space().allocate(rt.known.methodDictionary, space::Format::FixedIndexable, kFirstPair + 2 * cap,
                              space::Tenure::Old);
  d.object()->slots()[kTally] = Oop::fromSmallInteger(0);
  return d;
}

size_t size(Oop dict) {
  return size_t(dict.object()->slot(kTally).smallInteger());
}

Oop lookup(space::Space& space, Oop dict, Oop selector) {
  if (dict == space.nil()) return Oop();
  size_t cap = capacityOf(dict);
  if (cap == 0) return Oop();
  size_t i = probe(space, dict, selector);
  return keyAt(dict, i) == selector ? valueAt(dict, i) : Oop();
}

Oop atPut(Runtime& rt, Oop dict, Oop selector, Oop method) {
  space::Space& sp = rt.space();
  space::LocalRoot d(sp.localRoots(), dict), s(sp.localRoots(), selector), m(sp.localRoots(), method);
  if (d.get() == sp.nil()) d.set(create(rt, 8));
  size_t i = probe(sp, d.get(), s.get());
  if (keyAt(d.get(), i) != s.get()) {
    if ((size(d.get()) + 1) * 2 > capacityOf(d.get())) {
      // Grow: re-insert everything into a table twice the size.
      Oop bigger = create(rt, capacityOf(d.get()) * 2);
      for (size_t k = 0; k < capacityOf(d.get()); k++) {
        Oop key = keyAt(d.get(), k);
        if (key == sp.nil()) continue;
        size_t j = probe(sp, bigger, key);
        sp.storePointer(bigger, kFirstPair + 2 * j, key);
        sp.storePointer(bigger, kFirstPair + 2 * j + 1, valueAt(d.get(), k));
        bigger.object()->slots()[kTally] = Oop::fromSmallInteger(int64_t(size(bigger) + 1));
      }
      d.set(bigger);
      i = probe(sp, d.get(), s.get());
    }
    sp.storePointer(d.get(), kFirstPair + 2 * i, s.get());
    d.get().object()->slots()[kTally] = Oop::fromSmallInteger(int64_t(size(d.get()) + 1));
  }
  sp.storePointer(d.get(), kFirstPair + 2 * i + 1, m.get());
  return d.get();
}

bool remove(Runtime& rt, Oop dict, Oop selector) {
  space::Space& sp = rt.space();
  if (dict == sp.nil() || capacityOf(dict) == 0) return false;
  size_t i = probe(sp, dict, selector);
  if (keyAt(dict, i) != selector) return false;
  size_t mask = capacityOf(dict) - 1;
  Oop* slots = dict.object()->slots();
  slots[kFirstPair + 2 * i] = sp.nil();
  slots[kFirstPair + 2 * i + 1] = sp.nil();
  slots[kTally] = Oop::fromSmallInteger(int64_t(size(dict) - 1));
  // Re-insert the rest of the probe cluster so later lookups still find them.
  for (size_t j = (i + 1) & mask; keyAt(dict, j) != sp.nil(); j = (j + 1) & mask) {
    Oop key = keyAt(dict, j), value = valueAt(dict, j);
    slots[kFirstPair + 2 * j] = sp.nil();
    slots[kFirstPair + 2 * j + 1] = sp.nil();
    size_t k = probe(sp, dict, key);
    slots[kFirstPair + 2 * k] = key;
    slots[kFirstPair + 2 * k + 1] = value;
  }
  return true;
}

}  // namespace vm::method_dictionary

namespace vm {

Oop lookupSelector(Runtime& rt, Oop cls, Oop selector) {
  for (Oop c = cls; c.isHeapObject() && c != rt.nil(); c = c.object()->slot(class_slot::kSuperclass)) {
    Oop m = method_dictionary::lookup(rt.space(), c.object()->slot(class_slot::kMethodDictionary), selector);
    if (!m.isNull()) return m;
  }
  return Oop();
}

}  // namespace vm
