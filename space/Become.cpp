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
// the larger old object `large`, keeping the GC state of that memory, and formats the
// rest of it as a filler that the next sweep reclaims.
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

// Duplicate detection for become's validation with the header's mark bit (clear outside
// a full collection) instead of a hash set: O(pairs) with no allocation. Every bit set is
// cleared again when this goes out of scope, also when validation throws.
class BecomeMarks {
 public:
  explicit BecomeMarks(size_t expected) { marked_.reserve(expected); }
  ~BecomeMarks() {
    for (HeapObject* o : marked_) o->setMarked(false);
  }
  // Answers false when `o` was already marked.
  bool mark(HeapObject* o) {
    if (o->isMarked()) return false;
    o->setMarked(true);
    marked_.push_back(o);
    return true;
  }
  bool isMarked(HeapObject* o) const { return o->isMarked(); }

 private:
  std::vector<HeapObject*> marked_;
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

void Space::becomeForward(std::span<const Oop> from, std::span<const Oop> to, CopyHash copyHash) {
  if (from.size() != to.size()) throw std::invalid_argument("become: arrays differ in size");
  // 1. Validate everything before changing anything.
  {
    BecomeMarks sources(from.size());
    for (size_t i = 0; i < from.size(); i++) {
      Oop f = follow(from[i]);
      checkBecomeArgument(f, "from", i);
      if (!sources.mark(f.object())) throw std::invalid_argument(describe("from", i, "appears twice"));
    }
    for (size_t i = 0; i < to.size(); i++) {
      Oop t = follow(to[i]);
      if (!t.isHeapObject() || !contains(t)) {
        throw std::invalid_argument(describe("to", i, "is not a heap object of this space"));
      }
      if (sources.isMarked(t.object()) && follow(from[i]) != t) {
        throw std::invalid_argument(describe("to", i, "is also being forwarded (a cycle)"));
      }
    }
  }
  // 2. Forward.
  for (size_t i = 0; i < from.size(); i++) {
    Oop f = follow(from[i]);
    Oop t = follow(to[i]);
    if (f == t) continue;
    if (copyHash == CopyHash::Yes && f.object()->rawHash() != 0) {
      t.object()->setRawHash(f.object()->rawHash());
    }
    makeForwarder(*this, f.object(), t);
  }
  // 3. Restore the places that must never hold a forwarder.
  followForwardersAfterBecome();
  stats_.becomes++;
  notifyBecome();
}

void Space::swapIdentities(std::span<const Oop> a, std::span<const Oop> b) {
  if (a.size() != b.size()) throw std::invalid_argument("become: arrays differ in size");
  // Pairs of different sizes: when the larger object is old and neither has an overflow
  // word, the smaller's contents move into the larger's memory (the rest of it becomes a
  // filler) and only the larger's contents need a copy; otherwise both get one.
  auto copiesOnlyLarger = [&](HeapObject* small, HeapObject* large) {
    return !isYoung(large) && !small->hasOverflowWord() && !large->hasOverflowWord();
  };
  // Each phase's time goes to stats_.lastSwap (update pauses are made of these).
  auto phaseStart = std::chrono::steady_clock::now();
  auto endPhase = [&](uint64_t& nanos) {
    auto now = std::chrono::steady_clock::now();
    nanos = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(now - phaseStart).count());
    phaseStart = now;
  };
  // 1. Validate, and collect the objects whose contents need a copy in old space.
  std::vector<HeapObject*> copied;  // in the order of the pairs
  copied.reserve(2 * a.size());
  size_t copyBytes = 0;
  {
    BecomeMarks seen(a.size() * 2);
    for (size_t i = 0; i < a.size(); i++) {
      Oop x = follow(a[i]), y = follow(b[i]);
      checkBecomeArgument(x, "a", i);
      checkBecomeArgument(y, "b", i);
      if (!seen.mark(x.object())) throw std::invalid_argument(describe("a", i, "appears twice"));
      if (x == y) continue;
      if (!seen.mark(y.object())) throw std::invalid_argument(describe("b", i, "appears twice"));
      size_t xBytes = x.object()->totalBytes(), yBytes = y.object()->totalBytes();
      if (xBytes == yBytes) continue;
      HeapObject* small = xBytes < yBytes ? x.object() : y.object();
      HeapObject* large = xBytes < yBytes ? y.object() : x.object();
      // In the order step 3 clones them: the smaller object's contents first.
      bool onlyLarger = copiesOnlyLarger(small, large);
      if (!onlyLarger) copied.push_back(small);
      copied.push_back(large);
      copyBytes += onlyLarger ? large->totalBytes() : xBytes + yBytes;
    }
  }
  endPhase(stats_.lastSwap.validateNanos);
  // 2. Reserve old-space blocks for the copies before changing anything, so running out of
  //    memory leaves everything as it was. One region holds them all back to back (one
  //    allocation instead of one per copy, which took as long as the rest of the swap for
  //    100k pairs); when no region that large is free, one block each.
  std::vector<uintptr_t> blocks;
  blocks.reserve(copied.size());
  if (uintptr_t region = copyBytes == 0 ? 0 : oldSpace_->allocateBlock(copyBytes)) {
    for (HeapObject* o : copied) {
      blocks.push_back(region);
      region += o->totalBytes();
    }
  } else {
    for (HeapObject* o : copied) {
      uintptr_t block = oldSpace_->allocateBlock(o->totalBytes());
      if (block == 0) {
        for (size_t j = 0; j < blocks.size(); j++) oldSpace_->addFreeChunk(blocks[j], copied[j]->totalBytes());
        throw HeapExhausted("become: no room for copies of objects of different sizes");
      }
      blocks.push_back(block);
    }
  }
  endPhase(stats_.lastSwap.reserveNanos);
  // 3. Swap. A class's index is its identity hash, which travels with its contents, so
  //    remember where the contents of each class go and repoint its table entry there.
  auto isClass = [&](Oop o) {
    uint32_t h = o.object()->rawHash();
    return h != 0 && h < classTable_.capacity() && classTable_.at(h) == o;
  };
  std::vector<std::pair<uint32_t, Oop>> movedClasses;
  size_t nextBlock = 0;
  for (size_t i = 0; i < a.size(); i++) {
    Oop xo = follow(a[i]), yo = follow(b[i]);
    HeapObject* x = xo.object();
    HeapObject* y = yo.object();
    if (x == y) continue;
    bool xIsClass = isClass(xo), yIsClass = isClass(yo);
    uint32_t xHash = x->rawHash(), yHash = y->rawHash();
    if (x->totalBytes() == y->totalBytes()) {
      swapContents(x, y);
      // Old memory may now hold young references: let the next scavenge decide.
      if (formatHasPointers(x->format())) rememberIfOld(x);
      if (formatHasPointers(y->format())) rememberIfOld(y);
      if (xIsClass) movedClasses.push_back({xHash, yo});
      if (yIsClass) movedClasses.push_back({yHash, xo});
      continue;
    }
    auto clone = [&](HeapObject* src) {
      uintptr_t block = blocks[nextBlock++];
      std::memcpy(reinterpret_cast<void*>(block), reinterpret_cast<const void*>(src->blockStart()), src->totalBytes());
      HeapObject* c = HeapObject::fromBlockStart(block);
      c->setAge(0);
      c->setRemembered(false);
      c->setMarked(false);
      if (formatHasPointers(c->format())) rememberedSet_.add(c);
      return c->asOop();
    };
    if (x->totalBytes() > y->totalBytes()) {  // from here on, x is the smaller one
      std::swap(xo, yo);
      std::swap(x, y);
      std::swap(xIsClass, yIsClass);
      std::swap(xHash, yHash);
    }
    if (copiesOnlyLarger(x, y)) {
      Oop yCopy = clone(y);
      moveIntoLarger(x, y);
      if (formatHasPointers(y->format())) rememberIfOld(y);
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
  for (Oop s : stacks_) {
    HeapObject* stack = s.object();
    size_t n = stack->pointerSlotCount();
    Oop* slots = stack->slots();
    for (size_t i = 0; i < n; i++) slots[i] = follow(slots[i]);
    rememberIfOld(stack);
  }
  classTable_.followForwarders();
  Oop* special = specialObjects_.object()->slots();
  for (size_t i = 0; i < special::kArraySize; i++) special[i] = follow(special[i]);
  rememberIfOld(specialObjects_.object());
  handles_.forEach([](Oop& slot) { slot = follow(slot); });
  weak_.sweep([](Oop o) { return follow(o); });
  localRoots_.forEach([](Oop& slot) { slot = follow(slot); });
  struct Follow final : RootVisitor {
    void visit(Oop& slot) override { slot = Space::follow(slot); }
  } follower;
  for (RootProvider* p : rootProviders_) p->visitRoots(follower);
}

}  // namespace space
