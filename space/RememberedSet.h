// RememberedSet: the old objects that may hold references into the nursery.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "space/HeapObject.h"

namespace space {

// Invariant (restored by the write barrier, Space::storePointer): every old object that
// holds a reference to a young object has its remembered bit set and is in this set,
// except the active process stack, which the interpreter writes without a barrier and the
// scavenger scans as a root. An object is in the set at most once (the bit says so).
//
// Large arrays are remembered by cards: a scavenge scans every slot of a remembered
// object, and an array of millions of slots that receives one young reference between two
// scavenges would cost its whole length each time. A store by index into a carded object
// (Space::storePointer) marks the card of kCardSlots slots that holds it; the scavenger
// scans only the marked cards and keeps those still holding young references. An object
// remembered without an index (add: bulk stores, become, a checkpoint or image restored)
// has no cards and is scanned whole, once; the scavenge then records its cards. So the
// cards are only ever a narrowing of "every slot": invariant, every young reference in a
// carded object with cards lies in a marked card.
class RememberedSet {
 public:
  static constexpr size_t kCardSlots = 128;                   // 1 KiB of slots
  static constexpr size_t kMinCardedSlots = 16 * kCardSlots;  // arrays of 16 KiB and more
  using Cards = std::vector<uint64_t>;                        // one bit per card
  using CardMap = std::unordered_map<HeapObject*, Cards>;

  // Arrays large enough to be remembered by cards (their pointer slots are all their slots).
  static bool carded(const HeapObject* obj) {
    if (obj->isForwarded()) return false;
    Format f = obj->format();
    return (f == Format::Indexable || f == Format::FixedIndexable) && obj->slotCount() >= kMinCardedSlots;
  }

  // Remembers every slot of `obj`.
  void add(HeapObject* obj) {
    if (obj->isRemembered()) {
      if (!cards_.empty()) cards_.erase(obj);
      return;
    }
    enter(obj);
  }
  // Remembers slot `index` of `obj`: its card if `obj` is carded, every slot otherwise.
  void addSlot(HeapObject* obj, size_t index) {
    if (!carded(obj)) return add(obj);
    size_t card = index / kCardSlots;
    if (!obj->isRemembered()) {
      enter(obj);
      Cards& cards = cards_[obj];
      cards.assign(cardWords(obj->slotCount()), 0);
      mark(cards, card);
      return;
    }
    auto it = cards_.find(obj);
    if (it != cards_.end()) mark(it->second, card);  // else remembered whole
  }
  // The scavenger's re-entry of a carded object: `cards` (not empty) hold its young references.
  void addCards(HeapObject* obj, Cards cards) {
    enter(obj);
    cards_[obj] = std::move(cards);
  }
  // The cards of `obj`, or nullptr when it is remembered whole (or not at all).
  const Cards* cardsOf(HeapObject* obj) const {
    auto it = cards_.find(obj);
    return it == cards_.end() ? nullptr : &it->second;
  }
  CardMap takeCards() { return std::exchange(cards_, CardMap{}); }
  static size_t cardWords(size_t slots) { return (slots + kCardSlots * 64 - 1) / (kCardSlots * 64); }
  static void mark(Cards& cards, size_t card) {
    if (card / 64 >= cards.size()) cards.resize(card / 64 + 1, 0);
    cards[card / 64] |= uint64_t(1) << (card % 64);
  }
  static bool marked(const Cards& cards, size_t card) {
    return card / 64 < cards.size() && (cards[card / 64] >> (card % 64) & 1) != 0;
  }

  std::vector<HeapObject*>& entries() { return entries_; }
  // Replaces the entries (their objects carry the remembered bit already); each is then
  // remembered whole.
  void setEntries(std::vector<HeapObject*> entries) {
    entries_ = std::move(entries);
    cards_.clear();
  }
  const std::vector<HeapObject*>& entries() const { return entries_; }
  void clear() {
    for (HeapObject* o : entries_) o->setRemembered(false);
    entries_.clear();
    cards_.clear();
  }
  // Every entry remembered whole from now on (after objects changed shape: become, swaps).
  void forgetCards() { cards_.clear(); }
  size_t size() const { return entries_.size(); }

 private:
  // Makes `obj` (not remembered yet) an entry: the bit and the entry go together.
  void enter(HeapObject* obj) {
    obj->setRemembered(true);
    entries_.push_back(obj);
  }

  std::vector<HeapObject*> entries_;
  CardMap cards_;  // carded entries with their marked cards; a carded entry absent is whole
};

}  // namespace space
