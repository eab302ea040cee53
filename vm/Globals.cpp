// Globals: linear probing on symbol identity hashes; kept at most half full.
#include "vm/Globals.h"

#include "vm/ObjectLayouts.h"
#include "vm/Runtime.h"
#include "vm/SpecialObjects.h"

namespace vm {

using space::Oop;

Oop Globals::table() const {
  return runtime_.space().specialObject(special::kGlobals);
}

void Globals::initialize(size_t capacity) {
  space::Space& sp = runtime_.space();
  Oop t = sp.allocate(runtime_.known.array, space::Format::Indexable, capacity, space::Tenure::Old);
  sp.setSpecialObject(special::kGlobals, t);
  count_ = 0;
}

void Globals::reattach() {
  Oop t = table();
  count_ = 0;
  for (size_t i = 0; i < t.object()->slotCount(); i++) {
    if (t.object()->slot(i) != runtime_.nil()) count_++;
  }
}

size_t Globals::probe(Oop t, Oop symbol) const {
  size_t mask = t.object()->slotCount() - 1;
  size_t i = runtime_.space().identityHash(symbol) & mask;
  for (;;) {
    Oop e = t.object()->slot(i);
    if (e == runtime_.nil() || e.object()->slot(association_slot::kKey) == symbol) return i;
    i = (i + 1) & mask;
  }
}

Oop Globals::binding(Oop symbol) const {
  Oop t = table();
  Oop e = t.object()->slot(probe(t, symbol));
  return e == runtime_.nil() ? Oop() : e;
}

bool Globals::isDefined(Oop symbol) const {
  Oop b = binding(symbol);
  return !b.isNull() && b.object()->slot(association_slot::kValue) != runtime_.special(special::kUndefinedGlobal);
}

Oop Globals::at(Oop symbol) const {
  Oop b = binding(symbol);
  if (b.isNull()) return Oop();
  Oop v = b.object()->slot(association_slot::kValue);
  return v == runtime_.special(special::kUndefinedGlobal) ? Oop() : v;
}

void Globals::grow() {
  space::Space& sp = runtime_.space();
  Oop old = table();
  size_t n = old.object()->slotCount();
  Oop bigger = sp.allocate(runtime_.known.array, space::Format::Indexable, n * 2, space::Tenure::Old);
  old = table();
  sp.setSpecialObject(special::kGlobals, bigger);
  for (size_t k = 0; k < n; k++) {
    Oop e = old.object()->slot(k);
    if (e == runtime_.nil()) continue;
    size_t i = probe(bigger, e.object()->slot(association_slot::kKey));
    sp.storePointer(bigger, i, e);
  }
}

Oop Globals::bindingOrCreate(Oop symbol) {
  if (Oop b = binding(symbol); !b.isNull()) return b;
  space::Space& sp = runtime_.space();
  space::LocalRoot sym(sp.localRoots(), symbol);
  if ((count_ + 1) * 2 > table().object()->slotCount()) grow();
  Oop assoc = sp.allocate(runtime_.known.association, space::Format::Fixed, 2, space::Tenure::Old);
  sp.storePointer(assoc, association_slot::kKey, sym.get());
  sp.storePointer(assoc, association_slot::kValue, runtime_.special(special::kUndefinedGlobal));
  Oop t = table();
  sp.storePointer(t, probe(t, sym.get()), assoc);
  count_++;
  return assoc;
}

void Globals::atPut(Oop symbol, Oop value) {
  space::Space& sp = runtime_.space();
  space::LocalRoot v(sp.localRoots(), value);
  Oop b = bindingOrCreate(symbol);
  sp.storePointer(b, association_slot::kValue, v.get());
}

void Globals::undefine(Oop symbol) {
  Oop b = binding(symbol);
  if (!b.isNull())
    runtime_.space().storePointer(b, association_slot::kValue, runtime_.special(special::kUndefinedGlobal));
}

void Globals::forEachDefined(const std::function<void(Oop, Oop)>& f) const {
  Oop t = table();
  Oop undefined = runtime_.special(special::kUndefinedGlobal);
  for (size_t i = 0; i < t.object()->slotCount(); i++) {
    Oop e = t.object()->slot(i);
    if (e == runtime_.nil()) continue;
    Oop v = e.object()->slot(association_slot::kValue);
    if (v != undefined) f(e.object()->slot(association_slot::kKey), v);
  }
}

}  // namespace vm
