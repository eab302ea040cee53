// Scavenger: the minor collector — a Cheney copy of live young objects from eden and the
// from-survivor space into the to-survivor space, promoting old-enough ones to old space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "space/RememberedSet.h"
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
  // Forwards the young references in slots [from, to) of obj; answers whether one is still young.
  bool scanSlots(HeapObject* obj, size_t from, size_t to);
  // A carded object (RememberedSet::carded): scans the cards marked in `dirty` (every card
  // when null) and answers the cards still holding young references (empty when none).
  RememberedSet::Cards scanCards(HeapObject* obj, const RememberedSet::Cards* dirty);
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
