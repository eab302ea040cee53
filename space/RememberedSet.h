// RememberedSet: the old objects that may hold references into the nursery.
#pragma once

#include <vector>

#include "space/HeapObject.h"

namespace space {

// Invariant (restored by the write barrier, Space::storePointer): every old object that
// holds a reference to a young object has its remembered bit set and is in this set,
// except the active process stack, which the interpreter writes without a barrier and the
// scavenger scans as a root. An object is in the set at most once (the bit says so).
class RememberedSet {
 public:
  void add(HeapObject* obj) {
    if (obj->isRemembered()) return;
    obj->setRemembered(true);
    entries_.push_back(obj);
  }
  std::vector<HeapObject*>& entries() { return entries_; }
  // Replaces the entries (their objects carry the remembered bit already).
  void setEntries(std::vector<HeapObject*> entries) { entries_ = std::move(entries); }
  const std::vector<HeapObject*>& entries() const { return entries_; }
  void clear() {
    for (HeapObject* o : entries_) o->setRemembered(false);
    entries_.clear();
  }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<HeapObject*> entries_;
};

}  // namespace space
