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
  // Free runs of at least this many bytes have their whole pages returned to the kernel
  // (they fault in again, zeroed, when reused): the resident set follows the live data.
  static constexpr size_t kReleaseFreeBytes = size_t(64) << 10;
  // The smallest run that can give a page back (its first page keeps the chunk header).
  static constexpr size_t kReleaseEveryPage = size_t(2) * 4096;

  explicit MarkSweep(Space& space, size_t releaseFreeBytes = kReleaseFreeBytes)
      : space_(space), releaseFreeBytes_(releaseFreeBytes) {}
  void run();
  // Bytes of address range whose pages the sweep released.
  size_t releasedBytes() const { return releasedBytes_; }

 private:
  void visit(Oop& slot) override;
  void markSlot(Oop& slot);
  void drain();
  void sweep();
  // Lists a free run; gives its pages back when it is large enough, unless `release` is
  // false (the caller decides later: releaseFreePages).
  void addFree(uintptr_t start, size_t bytes, bool release = true);
  void releaseFreePages(uintptr_t start, size_t bytes);

  Space& space_;
  size_t releaseFreeBytes_;
  size_t releasedBytes_ = 0;
  // Invariant: every object on the mark stack is marked; its slots are not yet scanned.
  std::vector<HeapObject*> markStack_;
};

}  // namespace space
