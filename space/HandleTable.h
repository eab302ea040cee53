// HandleTable: references held from outside a space (the hypervisor's mirrors, tools),
// registered with the space as GC roots and updated when objects move or swap identity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "space/Assert.h"
#include "space/Oop.h"

namespace space {

using HandleId = uint32_t;

class HandleTable {
 public:
  HandleId create(Oop value) {
    if (!free_.empty()) {
      HandleId id = free_.back();
      free_.pop_back();
      entries_[id] = value;
      return id;
    }
    entries_.push_back(value);
    return HandleId(entries_.size() - 1);
  }
  Oop get(HandleId id) const {
    ESPELL_ASSERT(id < entries_.size(), "a handle of another space's table");
    return entries_[id];
  }
  void set(HandleId id, Oop value) {
    ESPELL_ASSERT(id < entries_.size(), "a handle of another space's table");
    entries_[id] = value;
  }
  void release(HandleId id) {
    entries_[id] = Oop();
    free_.push_back(id);
  }
  size_t liveCount() const { return entries_.size() - free_.size(); }

  // The values of every entry, for a checkpoint.
  std::vector<Oop> values() const { return entries_; }
  // Puts the values back as `saved` had them. Ownership stays as it is now: an entry made
  // after `saved` was taken (still held by its owner) refers to `placeholder` instead.
  void restoreValues(const std::vector<Oop>& saved, Oop placeholder) {
    std::vector<bool> isFree(entries_.size(), false);
    for (HandleId id : free_) isFree[id] = true;
    for (size_t id = 0; id < entries_.size(); id++) {
      if (isFree[id]) continue;
      entries_[id] = id < saved.size() && !saved[id].isNull() ? saved[id] : placeholder;
    }
  }

  // Visits every live entry (released entries hold the null oop and are skipped).
  template <class F>
  void forEach(F&& f) {
    for (Oop& e : entries_) {
      if (!e.isNull()) f(e);
    }
  }

 private:
  std::vector<Oop> entries_;
  std::vector<HandleId> free_;
};

}  // namespace space
