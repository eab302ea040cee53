// Scavenger: the minor collector — a Cheney copy of live young objects from eden and the
// from-survivor space into the to-survivor space, promoting old-enough ones to old space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "space/Roots.h"

namespace space {

class Space;
class HeapObject;
struct BumpRegion;

enum class TenureAll { No, Yes };

class Scavenger final : private RootVisitor {
 public:
  Scavenger(Space& space, TenureAll tenureAll);
  void run();

 private:
  void visit(Oop& slot) override { slot = forward(slot); }
  Oop forward(Oop o);
  Oop copy(HeapObject* obj);
  // Forwards the young references of `obj`; answers whether it still holds any.
  bool scanObject(HeapObject* obj);
  bool inFromSpace(uintptr_t a) const;
  uintptr_t promoteBlock(size_t bytes);

  Space& space_;
  BumpRegion& to_;
  bool tenureAll_;
  std::vector<HeapObject*> promoted_;  // promoted objects not yet scanned
  uint64_t survivedBytes_ = 0;
  uint64_t promotedBytes_ = 0;
};

}  // namespace space
