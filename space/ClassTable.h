// ClassTable: class index -> class object, stored as a heap Array so it is saved with the
// heap; the C++ side caches the address of its slots (old space never moves objects).
#pragma once

#include "space/ClassIndex.h"
#include "space/HeapObject.h"

namespace space {

class Space;

// Invariant: a class object's identity hash equals its class index, so the index travels
// with the class's contents when identities are swapped (Become.cpp relies on this).
class ClassTable {
 public:
  explicit ClassTable(Space& space) : space_(space) {}

  // Creates the table array (called once, while bootstrapping an empty space).
  void initialize(size_t capacity);
  // Re-reads the table array from the special objects (after an image load or a swap).
  void reattach();

  Oop at(ClassIndex i) const { return entries_[i]; }
  bool isValidIndex(ClassIndex i) const;
  ClassIndex capacity() const { return capacity_; }
  // The lowest index registerClass may use next (a checkpoint saves and restores it).
  ClassIndex nextFreeIndex() const { return nextFree_; }
  void setNextFreeIndex(ClassIndex i) { nextFree_ = i; }

  // Registers `cls` under a fresh index (or the given reserved one) and sets its hash.
  ClassIndex registerClass(Oop cls);
  void registerClassAt(ClassIndex index, Oop cls);
  // Points a reserved index (the immediates') at a class without changing the class's
  // identity hash: the class keeps its own index too.
  void setReservedEntry(ClassIndex index, Oop cls);
  void unregister(ClassIndex index);
  // Replaces each entry that is a forwarder with the object it stands for.
  void followForwarders();

  template <class F>
  void forEachClass(F&& f) const {
    for (ClassIndex i = 0; i < capacity_; i++) {
      if (entries_[i] != nilCache()) f(i, entries_[i]);
    }
  }

 private:
  Oop nilCache() const;
  void grow(ClassIndex minCapacity);

  Space& space_;
  Oop* entries_ = nullptr;
  ClassIndex capacity_ = 0;
  ClassIndex nextFree_ = kFirstOrdinaryClassIndex;
};

}  // namespace space
