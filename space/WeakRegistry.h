// WeakRegistry: objects watched without being kept alive. When a collection finds one
// dead, its token is reported (after the collection) to the callback of the entry's owner
// — e.g. a hypervisor mirror object dies and the guest handle it stood for is released.
//
// Invariant: an entry never refers to a forwarder (become follows entries eagerly), so
// after a scavenge a forwarded young entry was copied, and an unforwarded one died.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "space/Oop.h"

namespace space {

class WeakRegistry {
 public:
  using Token = uint64_t;
  using Owner = uint32_t;
  using DeathCallback = std::function<void(std::span<const Token> died)>;

  struct Entry {
    Oop object;
    Token token;
    Owner owner;
  };

  // Registers who watches objects (the mirror bridge, the class builder's retired code):
  // `callback` hears about the deaths of that owner's entries. Answers the owner's id.
  Owner addOwner(DeathCallback callback) {
    owners_.push_back(std::move(callback));
    return Owner(owners_.size() - 1);
  }
  // The owner's callback is dropped and its entries forgotten.
  void removeOwner(Owner owner) {
    owners_[owner] = nullptr;
    std::erase_if(entries_, [&](const Entry& e) { return e.owner == owner; });
  }
  void add(Oop object, Token token, Owner owner) { entries_.push_back({object, token, owner}); }
  // Visits the objects `owner` watches (alive as of the last collection).
  template <class F>
  void forEachOf(Owner owner, F&& f) const {
    for (const Entry& e : entries_) {
      if (e.owner == owner) f(e.object);
    }
  }
  size_t size() const { return entries_.size(); }

  // For the collectors and become: `survivor` maps an entry's object to where it lives
  // now, or to the null Oop when it died.
  template <class F>
  void sweep(F&& survivor) {
    size_t kept = 0;
    for (Entry& e : entries_) {
      Oop now = survivor(e.object);
      if (now.isNull()) {
        died_.push_back(e);
      } else {
        entries_[kept++] = {now, e.token, e.owner};
      }
    }
    entries_.resize(kept);
  }
  // After a collection: tells each owner which of its tokens died.
  void reportDeaths() {
    if (died_.empty()) return;
    std::vector<Entry> died;
    died.swap(died_);
    for (Owner o = 0; o < owners_.size(); o++) {
      if (!owners_[o]) continue;
      std::vector<Token> tokens;
      for (const Entry& e : died) {
        if (e.owner == o) tokens.push_back(e.token);
      }
      if (!tokens.empty()) owners_[o](tokens);
    }
  }

 private:
  friend class SpaceCheckpoint;
  std::vector<Entry> entries_;
  std::vector<Entry> died_;  // the object is the null oop
  std::vector<DeathCallback> owners_;
};

}  // namespace space
