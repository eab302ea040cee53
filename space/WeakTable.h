// WeakTable: a table a layer above the space keeps of old objects without keeping them
// alive (the vm's send-site index). A full collection tells it which of them died, so
// that it never holds an address the sweep has given back to the free lists.
//
// Invariant: a table holds old objects only (a scavenge neither moves nor frees them).
// An identity swap is not reported: a table that cares listens to RootProvider's
// afterBecome.
#pragma once

#include <functional>

#include "space/Oop.h"

namespace space {

class WeakTable {
 public:
  // After a full collection's marking: `alive` answers whether an object survived.
  virtual void dropDead(const std::function<bool(Oop)>& alive) = 0;

 protected:
  ~WeakTable() = default;
};

}  // namespace space
