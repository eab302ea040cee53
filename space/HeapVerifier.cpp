// HeapVerifier: two passes — collect object starts while checking headers, then check
// every reference (heap slots and roots) against that sorted list.
#include "space/HeapVerifier.h"

#include <algorithm>
#include <cstdio>

#include "space/Space.h"

namespace space {

namespace {

std::string hex(uintptr_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(v));
  return buf;
}

class Verifier {
 public:
  Verifier(Space& space, VerificationReport& report) : space_(space), report_(report) {}

  void run() {
    collectObjects();
    std::sort(starts_.begin(), starts_.end());
    for (HeapObject* o : objects_) checkReferences(o);
    checkRoots();
    checkRememberedSet();
  }

 private:
  void error(std::string message) {
    if (report_.errors.size() < VerificationReport::kMaxErrors) report_.errors.push_back(std::move(message));
  }
  std::string where(const HeapObject* o) const {
    return "object " + hex(reinterpret_cast<uintptr_t>(o)) + " (class index " + std::to_string(o->classIndex()) + ")";
  }

  void checkHeader(HeapObject* o, uintptr_t regionEnd) {
    uint8_t fmt = uint8_t(o->format());
    ClassIndex cls = o->classIndex();
    if (o->blockStart() + o->totalBytes() > regionEnd) {
      error(where(o) + ": extends past the end of its region");
    }
    // Free chunks in the nursery are the fillers swapIdentities leaves behind objects that
    // took a smaller identity; the next scavenge drops them with the rest of the nursery.
    if (cls == reserved_class::kFreeChunk) return;
    if (!formatIsValid(fmt)) error(where(o) + ": invalid format " + std::to_string(fmt));
    if (o->isMarked()) error(where(o) + ": mark bit set outside a become");
    if (o->isForwarded()) {
      if (cls != reserved_class::kForwarded) error(where(o) + ": forwarder without the forwarded class index");
      return;
    }
    if (cls == reserved_class::kForwarded) {
      error(where(o) + ": forwarded class index without the forwarded bit");
    } else if (cls < kFirstOrdinaryClassIndex || !space_.classTable().isValidIndex(cls)) {
      error(where(o) + ": class index not in the class table");
    }
  }

  void collectObjects() {
    Nursery& n = space_.nursery();
    auto walk = [&](uintptr_t from, uintptr_t to) {
      for (uintptr_t p = from; p < to;) {
        HeapObject* o = HeapObject::fromBlockStart(p);
        size_t bytes = o->totalBytes();
        if (bytes == 0) {
          error("zero-sized block at " + hex(p));
          return;
        }
        checkHeader(o, to);
        if (o->classIndex() != reserved_class::kFreeChunk) {
          starts_.push_back(reinterpret_cast<uintptr_t>(o));
          objects_.push_back(o);
        }
        p += bytes;
      }
    };
    walk(n.eden.start, n.eden.top);
    walk(n.fromSurvivor().start, n.fromSurvivor().top);
    space_.finishSweeping();  // segments left to sweep hold dead objects
    space_.oldSpace().makeWalkable();
    for (const Segment& s : space_.oldSpace().segments()) walk(s.start, s.top);
    report_.objectsChecked = objects_.size();
  }

  bool isObjectStart(uintptr_t a) const { return std::binary_search(starts_.begin(), starts_.end(), a); }

  // Checks one reference; answers whether it is a young object.
  bool checkOop(Oop v, const std::string& context) {
    report_.referencesChecked++;
    if (v.isNull()) {
      error(context + ": holds the null word");
      return false;
    }
    if (v.isImmediate()) {
      if (!v.isSmallInteger() && !v.isCharacter() && !v.isSmallFloat())
        error(context + ": unknown immediate tag " + hex(v.bits()));
      return false;
    }
    if (!space_.contains(v)) {
      error(context + ": reference " + hex(v.address()) + " points outside space '" + space_.name() +
            "' (cross-space reference)");
      return false;
    }
    if (!isObjectStart(v.address())) {
      error(context + ": reference " + hex(v.address()) + " is not the start of an object");
      return false;
    }
    return space_.isYoung(v);
  }

  void checkReferences(HeapObject* o) {
    size_t n = o->pointerSlotCount();
    if (o->format() == Format::Stack && !o->isForwarded() && n > o->slotCount()) {
      error(where(o) + ": stack top beyond its size");
      n = o->slotCount();
    }
    bool old = !space_.isYoung(o);
    bool exempt = o->asOop() == space_.activeStack();
    // A large array remembered by cards: its young references lie in marked cards.
    const RememberedSet::Cards* cards = old ? space_.rememberedSet().cardsOf(o) : nullptr;
    const Oop* slots = o->slots();
    for (size_t i = 0; i < n; i++) {
      Oop v = slots[i];
      if (!v.isHeapObject() && !v.isNull() && v.isImmediate()) {
        report_.referencesChecked++;
        continue;
      }
      bool young = checkOop(v, where(o) + " slot " + std::to_string(i));
      if (young && old && !exempt && !o->isRemembered()) {
        error(where(o) + " slot " + std::to_string(i) + ": old object refers to a young one but is not remembered");
      }
      if (young && cards != nullptr && !exempt && !RememberedSet::marked(*cards, i / RememberedSet::kCardSlots)) {
        error(where(o) + " slot " + std::to_string(i) + ": refers to a young object outside the marked cards");
      }
    }
  }

  void checkRoots() {
    if (!space_.marking() && space_.markBits().anyMarked()) error("mark bits set while no marking runs");
    checkOop(space_.specialObjectsArray(), "special objects array");
    size_t h = 0;
    space_.handles().forEach([&](Oop& slot) { checkOop(slot, "handle " + std::to_string(h++)); });
    space_.classTable().forEachClass([&](ClassIndex i, Oop cls) {
      if (!cls.isHeapObject()) {
        if (i >= kFirstOrdinaryClassIndex) error("class table entry " + std::to_string(i) + " is not an object");
        return;
      }
      checkOop(cls, "class table entry " + std::to_string(i));
      if (i >= kFirstOrdinaryClassIndex && cls.object()->rawHash() != i) {
        error("class table entry " + std::to_string(i) + ": class identity hash is " +
              std::to_string(cls.object()->rawHash()) + ", not its index");
      }
    });
  }

  void checkRememberedSet() {
    for (HeapObject* o : space_.rememberedSet().entries()) {
      if (!o->isRemembered()) error(where(o) + ": in the remembered set without the remembered bit");
      if (space_.isYoung(o)) error(where(o) + ": young object in the remembered set");
    }
  }

  Space& space_;
  VerificationReport& report_;
  std::vector<uintptr_t> starts_;
  std::vector<HeapObject*> objects_;
};

}  // namespace

std::string VerificationReport::summary() const {
  if (ok()) {
    return "heap ok: " + std::to_string(objectsChecked) + " objects, " + std::to_string(referencesChecked) +
           " references";
  }
  std::string s = std::to_string(errors.size()) + " heap error(s):";
  for (const std::string& e : errors) s += "\n  " + e;
  return s;
}

VerificationReport verifyHeap(Space& space) {
  VerificationReport report;
  Verifier(space, report).run();
  return report;
}

}  // namespace space
