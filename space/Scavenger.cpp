// Scavenger: roots, remembered set, then a breadth-first scan of copied objects.
#include "space/Scavenger.h"

#include <algorithm>
#include <cstring>

#include "space/Space.h"

namespace space {

Scavenger::Scavenger(Space& space, TenureAll tenureAll)
    : space_(space), to_(space.nursery().toSurvivor()), tenureAll_(tenureAll == TenureAll::Yes) {}

bool Scavenger::inFromSpace(uintptr_t a) const {
  const Nursery& n = space_.nursery();
  return n.eden.contains(a) || n.fromSurvivor().contains(a);
}

uintptr_t Scavenger::promoteBlock(size_t bytes) {
  OldSpace& old = space_.oldSpace();
  uintptr_t p = old.allocateBlock(bytes);
  if (p == 0) {
    // A scavenge cannot fail half-way: exceed the limit now; the next allocation request
    // triggers a full collection and reports exhaustion if that does not help.
    old.setMaxBytes(old.maxBytes() + bytes + OldSpace::kDefaultSegmentBytes);
    p = old.allocateBlock(bytes);
    if (p == 0) throw HeapExhausted("address space of '" + space_.name() + "' exhausted while promoting");
  }
  return p;
}

Oop Scavenger::copy(HeapObject* obj) {
  // Scavenges run outside full collections, and become's validation clears what it marks.
  ESPELL_ASSERT(!obj->isMarked(), "mark bit set outside a full collection");
  size_t bytes = obj->totalBytes();
  unsigned age = obj->age() + 1;
  uintptr_t dst;
  bool promote = tenureAll_ || age >= space_.config_.tenureAge || to_.top + bytes > to_.end;
  if (promote) {
    dst = promoteBlock(bytes);
    promotedBytes_ += bytes;
  } else {
    dst = to_.top;
    to_.top += bytes;
    survivedBytes_ += bytes;
  }
  std::memcpy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(obj->blockStart()), bytes);
  HeapObject* copy = HeapObject::fromBlockStart(dst);
  copy->setAge(age > 3 ? 3 : age);
  copy->setRemembered(false);
  if (promote) promoted_.push_back(copy);
  obj->setForwarded(true);
  obj->slots()[0] = copy->asOop();
  return copy->asOop();
}

Oop Scavenger::forward(Oop o) {
  // Old objects (including forwarders left by become in old space) are not followed here:
  // the full collector fixes references to old forwarders.
  while (o.isHeapObject() && inFromSpace(o.address())) {
    HeapObject* obj = o.object();
    if (!obj->isForwarded()) return copy(obj);
    o = obj->slot(0);  // already copied, or a young become-forwarder: go to its target
  }
  return o;
}

bool Scavenger::scanObject(HeapObject* obj) {
  return scanSlots(obj, 0, obj->pointerSlotCount());
}

bool Scavenger::scanSlots(HeapObject* obj, size_t from, size_t to) {
  const Nursery& n = space_.nursery();
  Oop* slots = obj->slots();
  bool holdsYoung = false;
  for (size_t i = from; i < to; i++) {
    Oop v = slots[i];
    if (v.isHeapObject() && n.contains(v.address())) {
      v = forward(v);
      slots[i] = v;
      holdsYoung |= v.isHeapObject() && n.contains(v.address());
    }
  }
  return holdsYoung;
}

RememberedSet::Cards Scavenger::scanCards(HeapObject* obj, const RememberedSet::Cards* dirty) {
  constexpr size_t kCard = RememberedSet::kCardSlots;
  size_t count = obj->pointerSlotCount();
  size_t cards = (count + kCard - 1) / kCard;
  RememberedSet::Cards young(RememberedSet::cardWords(count), 0);
  bool any = false;
  for (size_t c = 0; c < cards; c++) {
    if (dirty != nullptr && !RememberedSet::marked(*dirty, c)) {
      if (c % 64 == 0 && c / 64 < dirty->size() && (*dirty)[c / 64] == 0) c += 63;  // a word of clean cards
      continue;
    }
    if (scanSlots(obj, c * kCard, std::min(count, (c + 1) * kCard))) {
      RememberedSet::mark(young, c);
      any = true;
    }
  }
  if (!any) young.clear();
  return young;
}

void Scavenger::run() {
  to_.top = to_.start;
  RememberedSet& remembered = space_.rememberedSet();

  // 1. Roots outside the heap, and the active stack (written without a barrier).
  space_.visitRoots(*this);
  if (!space_.activeStack_.isNull()) {
    HeapObject* stack = space_.activeStack_.object();
    if (space_.isYoung(stack)) {
      space_.activeStack_ = forward(space_.activeStack_);
    } else if (scanObject(stack)) {
      // Still points at survivors; it stays a root of the next scavenge anyway.
    }
  }

  // 2. The remembered set: keep only objects that still reference young ones (large
  //    arrays: only the marked cards are scanned, and those still holding young ones kept).
  std::vector<HeapObject*> entries;
  entries.swap(remembered.entries());
  RememberedSet::CardMap cards = remembered.takeCards();
  for (HeapObject* o : entries) o->setRemembered(false);
  for (HeapObject* o : entries) {
    if (RememberedSet::carded(o)) {
      auto it = cards.find(o);
      RememberedSet::Cards young = scanCards(o, it == cards.end() ? nullptr : &it->second);
      if (!young.empty()) remembered.addCards(o, std::move(young));
    } else if (scanObject(o)) {
      remembered.add(o);
    }
  }

  // 3. Cheney scan of the to-space, interleaved with promoted objects.
  uintptr_t scan = to_.start;
  size_t promotedScanned = 0;
  while (scan < to_.top || promotedScanned < promoted_.size()) {
    while (scan < to_.top) {
      HeapObject* o = HeapObject::fromBlockStart(scan);
      scan += o->totalBytes();
      scanObject(o);
    }
    while (promotedScanned < promoted_.size()) {
      HeapObject* o = promoted_[promotedScanned++];
      if (scanObject(o)) remembered.add(o);
    }
  }

  // 4. A marking in steps marks what was promoted, and scans it (see Marker.h).
  if (space_.marking_) {
    for (HeapObject* o : promoted_) space_.marker_->greyPromoted(o);
  }

  // 5. Weak entries: a young object that was not copied died.
  space_.weak_.sweep([&](Oop o) {
    if (!o.isHeapObject() || !inFromSpace(o.address())) return o;
    return o.object()->isForwarded() ? o.object()->slot(0) : Oop();
  });

  Nursery& n = space_.nursery();
  space_.stats_.bytesAllocatedYoung += n.eden.used();
  space_.stats_.bytesSurvived += survivedBytes_;
  space_.stats_.bytesPromoted += promotedBytes_;
  n.eden.top = n.eden.start;
  n.fromSurvivor().top = n.fromSurvivor().start;
  n.flipSurvivors();
}

}  // namespace space
