// SymbolTable: linear probing over a power-of-two heap Array, kept at most half full.
#include "space/SymbolTable.h"

#include <cstring>
#include <stdexcept>

#include "space/Space.h"

namespace space {

namespace {
bool symbolEquals(Oop sym, std::string_view name) {
  const HeapObject* o = sym.object();
  return o->byteLength() == name.size() && std::memcmp(o->bytes(), name.data(), name.size()) == 0;
}
}  // namespace

uint32_t SymbolTable::hashBytes(std::string_view s) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

void SymbolTable::initialize(size_t capacity) {
  Oop table = space_.allocate(space_.arrayClassIndex(), Format::Indexable, capacity, Tenure::Old);
  space_.setSpecialObject(special::kSymbolTable, table);
  count_ = 0;
}

void SymbolTable::reattach() {
  Oop table = space_.specialObject(special::kSymbolTable);
  size_t n = table.object()->slotCount();
  size_t c = 0;
  for (size_t i = 0; i < n; i++) {
    if (table.object()->slot(i) != space_.nil()) c++;
  }
  count_ = c;
}

Oop SymbolTable::lookup(std::string_view name) const {
  Oop table = space_.specialObject(special::kSymbolTable);
  const HeapObject* t = table.object();
  size_t mask = t->slotCount() - 1;
  for (size_t i = hashBytes(name) & mask;; i = (i + 1) & mask) {
    Oop e = t->slot(i);
    if (e == space_.nil()) return Oop();
    if (symbolEquals(e, name)) return e;
  }
}

Oop SymbolTable::intern(std::string_view name) {
  if (Oop found = lookup(name); !found.isNull()) return found;
  if (symbolClass_ == reserved_class::kInvalid) throw std::logic_error("no Symbol class yet");
  if ((count_ + 1) * 2 > space_.specialObject(special::kSymbolTable).object()->slotCount()) grow();
  Oop sym = space_.allocateBytes(symbolClass_, name.size(), Tenure::Old);
  std::memcpy(sym.object()->bytes(), name.data(), name.size());
  sym.object()->setImmutable(true);  // unique by contents: changing one would break lookups
  Oop table = space_.specialObject(special::kSymbolTable);
  size_t mask = table.object()->slotCount() - 1;
  size_t i = hashBytes(name) & mask;
  while (table.object()->slot(i) != space_.nil()) i = (i + 1) & mask;
  space_.storePointer(table, i, sym);
  count_++;
  return sym;
}

void SymbolTable::grow() {
  Oop old = space_.specialObject(special::kSymbolTable);
  size_t newCapacity = old.object()->slotCount() * 2;
  Oop bigger = space_.allocate(space_.arrayClassIndex(), Format::Indexable, newCapacity, Tenure::Old);
  old = space_.specialObject(special::kSymbolTable);
  size_t n = old.object()->slotCount();
  size_t mask = newCapacity - 1;
  for (size_t k = 0; k < n; k++) {
    Oop e = old.object()->slot(k);
    if (e == space_.nil()) continue;
    const HeapObject* o = e.object();
    std::string_view bytes(reinterpret_cast<const char*>(o->bytes()), o->byteLength());
    size_t i = hashBytes(bytes) & mask;
    while (bigger.object()->slot(i) != space_.nil()) i = (i + 1) & mask;
    bigger.object()->slots()[i] = e;
  }
  space_.rememberIfOld(bigger.object());  // filled in bulk
  space_.setSpecialObject(special::kSymbolTable, bigger);
}

}  // namespace space
