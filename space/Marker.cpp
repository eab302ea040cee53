// Marker: an explicit stack of marked objects to scan, a queue of slots whose headers are
// being prefetched, and a budget for the steps of an incremental marking.
#include "space/Marker.h"

#include <utility>

#include "space/Assert.h"
#include "space/Space.h"

namespace space {

Marker::Marker(Space& space, MarkBitmap& bits, Mode mode) : space_(space), bits_(bits), mode_(mode) {}

bool Marker::young(const HeapObject* o) const {
  return space_.isYoung(o);
}

void Marker::visit(Oop& slot) {
  if (slot.isHeapObject()) markNow(slot);
}

void Marker::greyRoots() {
  space_.visitRoots(*this);
  if (!space_.activeStack_.isNull()) visit(space_.activeStack_);
}

void Marker::markSlot(Oop& slot) {
  Oop v = slot;
  if (!v.isHeapObject()) return;
  __builtin_prefetch(v.object(), 1);
  Oop* oldest = queued_[queueNext_];
  queued_[queueNext_] = &slot;
  queueNext_ = (queueNext_ + 1) % kPrefetchDistance;
  if (oldest != nullptr) markNow(*oldest);
}

void Marker::markNow(Oop& slot) {
  Oop v = slot;
  HeapObject* o = v.object();
  // Young objects are marked only once promoted (greyPromoted); the finish tenures them.
  if (young(o)) return;
  if (o->isForwarded()) {
    // Only a stop-the-world marking meets forwarders (see the file comment); it replaces
    // the reference, so that the sweep may free the forwarder.
    ESPELL_ASSERT(mode_ == Mode::StopTheWorld, "an incremental marking met a forwarder");
    v = Space::follow(v);
    slot = v;
    if (!v.isHeapObject()) return;
    o = v.object();
  }
  greyObject(o);
}

void Marker::drainUntil(uint64_t until, std::chrono::steady_clock::time_point deadline) {
  const bool timed = deadline != std::chrono::steady_clock::time_point::max();
  size_t sinceClock = 0;
  for (;;) {
    while (!stack_.empty()) {
      if (scannedBytes_ >= until) return;
      if (timed && sinceClock >= kSlotsPerClockRead) {
        sinceClock = 0;
        if (std::chrono::steady_clock::now() >= deadline) return;
      }
      auto [o, from] = stack_.back();
      stack_.pop_back();
      size_t n = o->pointerSlotCount();
      // A process stack counts only its live part: popped below the piece, it has nothing
      // left here (and the finish scans every marked stack again).
      if (from >= n) continue;
      size_t end = n - from > kPieceSlots ? from + kPieceSlots : n;
      if (end < n) stack_.push_back({o, end});  // under what this piece marks
      scannedBytes_ += (end - from + (from == 0 ? 1 : 0)) * 8;
      sinceClock += end - from + 1;
      Oop* slots = o->slots();
      for (size_t i = from; i < end; i++) markSlot(slots[i]);
    }
    // The stack is empty: mark the queued slots, oldest first, until one gives it work.
    size_t place = queueNext_;
    for (size_t k = 0; k < kPrefetchDistance && stack_.empty(); k++, place = (place + 1) % kPrefetchDistance) {
      if (Oop* slot = queued_[place]) {
        queued_[place] = nullptr;
        markNow(*slot);
      }
    }
    if (stack_.empty()) return;  // and the queue too: the loop above went round it
  }
}

void Marker::flushQueue() {
  for (Oop*& slot : queued_) {
    if (slot != nullptr) markNow(*std::exchange(slot, nullptr));
  }
}

void Marker::drain() {
  drainUntil(UINT64_MAX, std::chrono::steady_clock::time_point::max());
}

bool Marker::step(size_t budgetBytes, std::chrono::steady_clock::time_point deadline) {
  drainUntil(scannedBytes_ + budgetBytes, deadline);
  flushQueue();
  return stack_.empty();
}

void Marker::finish() {
  ESPELL_ASSERT(mode_ == Mode::Incremental, "finish() ends an incremental marking");
  greyRoots();
  drain();
  // Stacks are written without a barrier while active: scan every live one again. What
  // that marks is scanned as it is now, the program being stopped.
  for (Oop s : space_.stacks_) {
    if (!young(s.object())) rescan(s.object());
  }
  drain();
}

void Marker::checkComplete() {
#if ESPELL_ASSERTIONS
  MarkBitmap seen(space_.reservation().base(), space_.reservation().size());
  std::vector<HeapObject*> pending;
  auto reach = [&](Oop v) {
    if (!v.isHeapObject() || young(v.object())) return;
    HeapObject* o = v.object();
    ESPELL_ASSERT(bits_.isMarked(o), "a reachable old object left unmarked by an incremental marking");
    if (seen.mark(o)) pending.push_back(o);
  };
  struct Roots final : RootVisitor {
    decltype(reach)& f;
    explicit Roots(decltype(reach)& r) : f(r) {}
    void visit(Oop& slot) override { f(slot); }
  } roots(reach);
  space_.visitRoots(roots);
  if (!space_.activeStack_.isNull()) reach(space_.activeStack_);
  while (!pending.empty()) {
    HeapObject* o = pending.back();
    pending.pop_back();
    size_t n = o->pointerSlotCount();
    for (size_t i = 0; i < n; i++) reach(o->slots()[i]);
  }
#endif
}

}  // namespace space
