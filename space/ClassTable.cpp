// ClassTable: a heap Array indexed by class index, grown by copying.
#include "space/ClassTable.h"

#include <stdexcept>

#include "space/Space.h"

namespace space {

Oop ClassTable::nilCache() const {
  return space_.nil();
}

void ClassTable::initialize(size_t capacity) {
  Oop table = space_.allocate(space_.arrayClassIndex(), Format::Indexable, capacity, Tenure::Old);
  space_.setSpecialObject(special::kClassTable, table);
  reattach();
}

void ClassTable::reattach() {
  Oop table = space_.specialObject(special::kClassTable);
  entries_ = table.object()->slots();
  capacity_ = ClassIndex(table.object()->slotCount());
  while (nextFree_ < capacity_ && entries_[nextFree_] != space_.nil()) nextFree_++;
}

bool ClassTable::isValidIndex(ClassIndex i) const {
  return i < capacity_ && entries_[i] != space_.nil();
}

void ClassTable::grow(ClassIndex minCapacity) {
  ClassIndex newCapacity = capacity_ * 2;
  while (newCapacity < minCapacity) newCapacity *= 2;
  if (newCapacity > kMaxClassIndex + 1) newCapacity = kMaxClassIndex + 1;
  if (newCapacity <= capacity_) throw std::runtime_error("class table full");
  Oop bigger = space_.allocate(space_.arrayClassIndex(), Format::Indexable, newCapacity, Tenure::Old);
  Oop old = space_.specialObject(special::kClassTable);
  Oop* from = old.object()->slots();
  Oop* to = bigger.object()->slots();
  for (ClassIndex i = 0; i < capacity_; i++) to[i] = from[i];
  space_.rememberIfOld(bigger.object());
  space_.setSpecialObject(special::kClassTable, bigger);
  reattach();
}

ClassIndex ClassTable::registerClass(Oop cls) {
  while (nextFree_ < capacity_ && entries_[nextFree_] != space_.nil()) nextFree_++;
  if (nextFree_ >= capacity_) {
    LocalRoot keep(space_.localRoots(), cls);
    grow(capacity_ + 1);
    cls = keep.get();
  }
  ClassIndex index = nextFree_++;
  registerClassAt(index, cls);
  return index;
}

void ClassTable::registerClassAt(ClassIndex index, Oop cls) {
  if (index >= capacity_) {
    LocalRoot keep(space_.localRoots(), cls);
    grow(index + 1);
    cls = keep.get();
  }
  space_.storePointer(space_.specialObject(special::kClassTable), index, cls);
  cls.object()->setRawHash(index);
}

void ClassTable::setReservedEntry(ClassIndex index, Oop cls) {
  space_.storePointer(space_.specialObject(special::kClassTable), index, cls);
}

void ClassTable::unregister(ClassIndex index) {
  entries_[index] = space_.nil();
  if (index < nextFree_ && index >= kFirstOrdinaryClassIndex) nextFree_ = index;
}

void ClassTable::followForwarders() {
  // Only forwarded entries are written (the table's pages may be tracked by a checkpoint).
  for (ClassIndex i = 0; i < capacity_; i++) {
    Oop e = entries_[i];
    if (e.isHeapObject() && e.object()->isForwarded()) entries_[i] = Space::follow(e);
  }
}

}  // namespace space
