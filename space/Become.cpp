// Become: identity swaps in O(pairs). Same-sized pairs exchange contents in place; other
// pairs move contents to copies in old space (only the larger object's when it is old:
// the smaller's contents then fit in its memory) and leave forwarders to them (lazy
// forwarding, as in Spur): a forwarder's class index misses
// every inline cache, the interpreter follows it on that slow path, collectors replace
// references to it, and the few places that must never see one (process stacks, the class
// table, special objects, handles, C++ roots) are fixed eagerly right here.
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "space/Space.h"
#include "space/SpaceCheckpoint.h"

namespace space {

namespace {

std::string describe(const char* side, size_t index, const std::string& what) {
  return std::string(side) + "[" + std::to_string(index) + "] " + what;
}

// The header bits that belong to the memory, not to the object's identity: they stay
// where they are when contents move.
constexpr uint64_t kGcBits = (HeapObject::kAgeMask << HeapObject::kAgeShift) | (uint64_t(1) << HeapObject::kMarkedBit) |
                             (uint64_t(1) << HeapObject::kRememberedBit);

// Exchanges everything that belongs to an object's identity (class, format, hash,
// immutability, slot count and slots) between two blocks of the same size, leaving the
// GC state (age, marks, remembered bit) with the memory it describes.
void swapContents(HeapObject* a, HeapObject* b) {
  uint64_t ha = a->header(), hb = b->header();
  a->setHeader((hb & ~kGcBits) | (ha & kGcBits));
  b->setHeader((ha & ~kGcBits) | (hb & kGcBits));
  size_t words = a->totalBytes() / 8 - HeapObject::headerWordsForSlots(a->slotCount());
  uint64_t* wa = a->words();
  uint64_t* wb = b->words();
  for (size_t i = 0; i < words; i++) std::swap(wa[i], wb[i]);
}

// Writes the identity of `small` (header and slots, no overflow word) into the memory of
// the larger object `large`, keeping the GC state of that memory, and formats the rest of
// it as a filler: a free chunk that the next sweep reclaims in old space, and that heap
// walks skip in the nursery until the next scavenge empties it.
void moveIntoLarger(HeapObject* small, HeapObject* large) {
  size_t smallBytes = small->totalBytes(), largeBytes = large->totalBytes();
  large->setHeader((small->header() & ~kGcBits) | (large->header() & kGcBits));
  std::memcpy(large->words(), small->words(), smallBytes - 8);
  HeapObject::formatFreeChunk(large->blockStart() + smallBytes, largeBytes - smallBytes);
}

void makeForwarder(Space& space, HeapObject* from, Oop to) {
  from->setForwarded(true);
  from->setClassIndex(reserved_class::kForwarded);
  from->slots()[0] = to;
  space.writeBarrier(from, to);
}

// Duplicate detection for become's validation uses the header's mark bit, which is clear
// outside it (the collector marks in its MarkBitmap): O(pairs), no allocation, and no extra pass on success, where
// the next step clears each pair's bits as it goes. A validation that fails clears the
// bits of every object it looked at with Space::clearBecomeMarks.
bool markOnce(HeapObject* o) {
  if (o->isMarked()) return false;
  o->setMarked(true);
  return true;
}

// The room reserved for the copies of objects whose contents move, taken in the order
// the pairs need it: one region when the old space has a free block that large (one
// allocation instead of one per copy, which took as long as the rest of the swap for
// 100k pairs), otherwise one block per copy.
class CopyRoom {
 public:
  struct Block {
    uintptr_t start;
    size_t bytes;
  };
  explicit CopyRoom(uintptr_t region) : next_(region) {}
  explicit CopyRoom(std::vector<Block> blocks) : blocks_(std::move(blocks)) {}
  uintptr_t take(size_t bytes) {
    if (!blocks_.empty()) return blocks_[taken_++].start;
    uintptr_t block = next_;
    next_ += bytes;
    return block;
  }

 private:
  uintptr_t next_ = 0;
  std::vector<Block> blocks_;
  size_t taken_ = 0;
};

}  // namespace

void Space::checkBecomeArgument(Oop o, const char* side, size_t index) const {
  if (!o.isHeapObject()) throw std::invalid_argument(describe(side, index, "is not a heap object"));
  if (!contains(o)) throw std::invalid_argument(describe(side, index, "belongs to another space"));
  HeapObject* obj = o.object();
  if (obj->classIndex() == reserved_class::kFreeChunk) {
    throw std::invalid_argument(describe(side, index, "is free memory"));
  }
  if (o == nil_ || o == trueObject() || o == falseObject() || o == specialObjects_ ||
      o == specialObject(special::kClassTable) || o == specialObject(special::kSymbolTable)) {
    throw std::invalid_argument(describe(side, index, "is an object the VM depends on"));
  }
  if (obj->format() == Format::Stack) {
    throw std::invalid_argument(describe(side, index, "is a process stack"));
  }
}

void Space::saveAheadOfBecome(std::span<const Oop> a, std::span<const Oop> b) {
  if (!checkpoint_) return;
  // Objects made together lie together: a page is listed once per run of its objects.
  std::vector<uintptr_t> pages;
  auto add = [&](Oop named) {
    Oop o = follow(named);
    if (!o.isHeapObject() || !contains(o)) return;  // validation reports it
    HeapObject* h = o.object();
    uintptr_t start = h->blockStart(), end = start + h->totalBytes();
    for (uintptr_t page = start & ~(WriteTracker::kPageSize - 1); page < end; page += WriteTracker::kPageSize) {
      if (pages.empty() || pages.back() != page) pages.push_back(page);
    }
  };
  for (Oop o : a) add(o);
  for (Oop o : b) add(o);
  checkpoint_->saveAhead(pages);
}

void Space::clearBecomeMarks(std::span<const Oop> objects) {
  for (Oop named : objects) {
    Oop o = follow(named);
    if (o.isHeapObject() && contains(o) && o.object()->classIndex() != reserved_class::kFreeChunk) {
      o.object()->setMarked(false);
    }
  }
}

void Space::becomeForward(std::span<const Oop> from, std::span<const Oop> to, CopyHash copyHash) {
  if (from.size() != to.size()) throw std::invalid_argument("become: arrays differ in size");
  abandonMarking();  // references change wholesale (see Marker.h)
  saveAheadOfBecome(from, copyHash == CopyHash::Yes ? to : std::span<const Oop>());
  // 1. Validate everything before changing anything.
  size_t reached = 0;  // from[0, reached] may carry mark bits
  try {
    for (size_t i = 0; i < from.size(); i++) {
      reached = i;
      Oop f = follow(from[i]);
      checkBecomeArgument(f, "from", i);
      if (!markOnce(f.object())) throw std::invalid_argument(describe("from", i, "appears twice"));
    }
    for (size_t i = 0; i < to.size(); i++) {
      Oop t = follow(to[i]);
      if (!t.isHeapObject() || !contains(t)) {
        throw std::invalid_argument(describe("to", i, "is not a heap object of this space"));
      }
      if (t.object()->isMarked() && follow(from[i]) != t) {
        throw std::invalid_argument(describe("to", i, "is also being forwarded (a cycle)"));
      }
    }
  } catch (...) {
    clearBecomeMarks(from.first(reached + 1));  // (only the loops throw: reached < size)
    throw;
  }
  // 2. Forward, clearing the mark bits of step 1.
  forwardersLeft_ = true;
  for (size_t i = 0; i < from.size(); i++) {
    Oop f = follow(from[i]);
    Oop t = follow(to[i]);
    f.object()->setMarked(false);
    if (f == t) continue;
    if (copyHash == CopyHash::Yes && f.object()->rawHash() != 0) {
      t.object()->setRawHash(f.object()->rawHash());
    }
    makeForwarder(*this, f.object(), t);
  }
  // 3. Restore the places that must never hold a forwarder. Objects changed shape and
  //    their slots now hold forwarders' targets: every remembered object is scanned whole.
  rememberedSet_.forgetCards();
  followForwardersAfterBecome();
  stats_.becomes++;
  notifyBecome();
}

void Space::rememberIfHoldsYoung(HeapObject* target) {
  if (isYoung(target) || target->isRemembered()) return;
  size_t n = target->pointerSlotCount();
  const Oop* slots = target->slots();
  for (size_t i = 0; i < n; i++) {
    if (slots[i].isHeapObject() && isYoung(slots[i])) {
      rememberedSet_.add(target);
      return;
    }
  }
}

void Space::swapIdentities(std::span<const Oop> a, std::span<const Oop> b) {
  if (a.size() != b.size()) throw std::invalid_argument("become: arrays differ in size");
  abandonMarking();              // references change wholesale (see Marker.h)
  forwardersLeft_ = true;        // (at worst, a swap that fails stops the next marking's world)
  dropCensus();                  // contents, classes among them, change places
  rememberedSet_.forgetCards();  // and the cards would describe the other contents
  // Pairs of different sizes: when neither has an overflow word, the smaller's contents
  // move into the larger's memory (the rest of it becomes a filler, in old space or in
  // the nursery) and only the larger's contents need a copy; otherwise both get one.
  auto copiesOnlyLarger = [&](HeapObject* small, HeapObject* large) {
    return !small->hasOverflowWord() && !large->hasOverflowWord();
  };
  // Calls `copy(object)` for each object of the pair (x, y) whose contents need a copy,
  // in the order step 3 clones them: the smaller object's contents first.
  auto forEachCopy = [&](HeapObject* x, HeapObject* y, auto&& copy) {
    if (x == y || x->totalBytes() == y->totalBytes()) return;
    if (x->totalBytes() > y->totalBytes()) std::swap(x, y);
    if (!copiesOnlyLarger(x, y)) copy(x);
    copy(y);
  };
  // Each phase's time goes to stats_.lastSwap (update pauses are made of these).
  auto phaseStart = std::chrono::steady_clock::now();
  auto endPhase = [&](uint64_t& nanos) {
    auto now = std::chrono::steady_clock::now();
    nanos = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(now - phaseStart).count());
    phaseStart = now;
  };
  saveAheadOfBecome(a, b);
  // 1. Validate, marking every object named (to find duplicates), and size the copies.
  size_t copyBytes = 0;
  size_t reached = 0;  // pairs [0, reached] may carry mark bits
  auto unmark = [&] {  // (runs only once the loop below has begun, so reached < size)
    clearBecomeMarks(a.first(reached + 1));
    clearBecomeMarks(b.first(reached + 1));
  };
  try {
    for (size_t i = 0; i < a.size(); i++) {
      reached = i;
      Oop x = follow(a[i]), y = follow(b[i]);
      checkBecomeArgument(x, "a", i);
      checkBecomeArgument(y, "b", i);
      if (!markOnce(x.object())) throw std::invalid_argument(describe("a", i, "appears twice"));
      if (x != y && !markOnce(y.object())) throw std::invalid_argument(describe("b", i, "appears twice"));
      forEachCopy(x.object(), y.object(), [&](HeapObject* o) { copyBytes += o->totalBytes(); });
    }
  } catch (...) {
    unmark();
    throw;
  }
  endPhase(stats_.lastSwap.validateNanos);
  // 2. Reserve old-space room for the copies before changing anything, so running out of
  //    memory leaves everything as it was.
  auto oneBlockEach = [&] {
    std::vector<CopyRoom::Block> blocks;
    bool exhausted = false;
    for (size_t i = 0; i < a.size() && !exhausted; i++) {
      forEachCopy(follow(a[i]).object(), follow(b[i]).object(), [&](HeapObject* o) {
        if (exhausted) return;
        uintptr_t block = oldSpace_->allocateBlock(o->totalBytes());
        exhausted = block == 0;
        if (!exhausted) blocks.push_back({block, o->totalBytes()});
      });
    }
    if (exhausted) {
      for (auto [block, bytes] : blocks) oldSpace_->addFreeChunk(block, bytes);
      unmark();
      throw HeapExhausted("become: no room for copies of objects of different sizes");
    }
    return blocks;
  };
  uintptr_t region = copyBytes == 0 ? 0 : oldSpace_->allocateBlock(copyBytes);
  CopyRoom room = copyBytes == 0 || region != 0 ? CopyRoom(region) : CopyRoom(oneBlockEach());
  endPhase(stats_.lastSwap.reserveNanos);
  // 3. Swap. A class's index is its identity hash, which travels with its contents, so
  //    remember where the contents of each class go and repoint its table entry there.
  //    Each pair's mark bits from step 1 are cleared first (they belong to the memory).
  auto isClass = [&](Oop o) {
    uint32_t h = o.object()->rawHash();
    return h != 0 && h < classTable_.capacity() && classTable_.at(h) == o;
  };
  auto clone = [&](HeapObject* src) {
    uintptr_t block = room.take(src->totalBytes());
    std::memcpy(reinterpret_cast<void*>(block), reinterpret_cast<const void*>(src->blockStart()), src->totalBytes());
    HeapObject* c = HeapObject::fromBlockStart(block);
    c->setAge(0);  // (its mark bit is clear: the loop below clears each pair's first)
    c->setRemembered(false);
    rememberIfHoldsYoung(c);
    return c->asOop();
  };
  std::vector<std::pair<uint32_t, Oop>> movedClasses;
  for (size_t i = 0; i < a.size(); i++) {
    Oop xo = follow(a[i]), yo = follow(b[i]);
    HeapObject* x = xo.object();
    HeapObject* y = yo.object();
    x->setMarked(false);
    y->setMarked(false);
    if (x == y) continue;
    bool xIsClass = isClass(xo), yIsClass = isClass(yo);
    uint32_t xHash = x->rawHash(), yHash = y->rawHash();
    if (x->totalBytes() == y->totalBytes()) {
      swapContents(x, y);
      // Old memory may now hold young references.
      rememberIfHoldsYoung(x);
      rememberIfHoldsYoung(y);
      if (xIsClass) movedClasses.push_back({xHash, yo});
      if (yIsClass) movedClasses.push_back({yHash, xo});
      continue;
    }
    if (x->totalBytes() > y->totalBytes()) {  // from here on, x is the smaller one
      std::swap(xo, yo);
      std::swap(x, y);
      std::swap(xIsClass, yIsClass);
      std::swap(xHash, yHash);
    }
    if (copiesOnlyLarger(x, y)) {
      Oop yCopy = clone(y);
      moveIntoLarger(x, y);
      rememberIfHoldsYoung(y);
      makeForwarder(*this, x, yCopy);  // references to x now see y's contents
      if (xIsClass) movedClasses.push_back({xHash, yo});
      if (yIsClass) movedClasses.push_back({yHash, yCopy});
      continue;
    }
    Oop xCopy = clone(x);
    Oop yCopy = clone(y);
    makeForwarder(*this, x, yCopy);  // references to x now see y's contents
    makeForwarder(*this, y, xCopy);
    if (xIsClass) movedClasses.push_back({xHash, xCopy});
    if (yIsClass) movedClasses.push_back({yHash, yCopy});
  }
  // 4. Fix the places that must never hold a forwarder, then the moved classes.
  endPhase(stats_.lastSwap.swapNanos);
  followForwardersAfterBecome();
  for (auto [index, cls] : movedClasses) classTable_.registerClassAt(index, cls);
  stats_.becomes++;
  notifyBecome();
  endPhase(stats_.lastSwap.fixNanos);
}

void Space::followForwardersAfterBecome() {
  // Only slots that hold a forwarder are written: stacks and the special objects lie in
  // pages an update's checkpoint tracks, where a first write costs a copy-on-write fault
  // (a busy service's twenty stacks cost a millisecond when every one was rewritten).
  auto followSlots = [](HeapObject* o, size_t n) {
    Oop* slots = o->slots();
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
      if (slots[i].isHeapObject() && slots[i].object()->isForwarded()) {
        slots[i] = follow(slots[i]);
        changed = true;
      }
    }
    return changed;
  };
  for (Oop s : stacks_) {
    HeapObject* stack = s.object();
    if (followSlots(stack, stack->pointerSlotCount())) rememberIfOld(stack);
  }
  classTable_.followForwarders();
  if (followSlots(specialObjects_.object(), special::kArraySize)) rememberIfOld(specialObjects_.object());
  handles_.forEach([](Oop& slot) { slot = follow(slot); });
  weak_.sweep([](Oop o) { return follow(o); });
  localRoots_.forEach([](Oop& slot) { slot = follow(slot); });
  struct Follow final : RootVisitor {
    void visit(Oop& slot) override { slot = Space::follow(slot); }
  } follower;
  for (RootProvider* p : rootProviders_) p->visitRoots(follower);
}

}  // namespace space
