// MarkSweep: the full collector of old space. Runs after a scavenge that tenured every
// young object, so the whole heap is old: mark from the roots (replacing references to
// forwarders by their targets on the way), then sweep each segment into free chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "space/Roots.h"

namespace space {

class Space;
class HeapObject;

class MarkSweep final : private RootVisitor {
 public:
  explicit MarkSweep(Space& space) : space_(space) {}
  void run();

 private:
  void visit(Oop& slot) override;
  void markSlot(Oop& slot);
  void drain();
  void sweep();
  void addFree(uintptr_t start, size_t bytes);

  Space& space_;
  // Invariant: every object on the mark stack is marked; its slots are not yet scanned.
  std::vector<HeapObject*> markStack_;
};

}  // namespace space
