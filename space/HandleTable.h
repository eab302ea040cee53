// HandleTable: references held from outside a space (the hypervisor's mirrors, tools),
// registered with the space as GC roots and updated when objects move or swap identity.
#pragma once

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
